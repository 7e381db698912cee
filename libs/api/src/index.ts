/**
 * Manifests: YAML or JSON → validated `ServiceDraft`s (one code path for the CLI and the server),
 * and the JSON views the API returns.
 */
export { MAX_MANIFEST_BYTES, parseManifests, parseManifestsYielding, type ManifestSource } from './parse';
export { validateManifestObjects, validateManifestObjectsYielding } from './objects';
export { LIMITS, MAX_DURATIONS } from './bounds';
export { toNodeView, toRevisionView, toRolloutView, toServiceView, toSpecView, toTaskView } from './views';
export type { NodeUsage, NodeView, PlanView, TaskMoveView, RevisionView, RolloutView, ServiceManifest, ServiceSpecView, ServiceView, TaskView, TemplateView, UpdateView } from './views';
export type { NodeTopView, TaskTopView, TopErrorView, TopView } from './views';
export { diffService } from './diff';
export { AFTER_FORMS, matchesEventQuery, parseAfter, parseSince, readEventQuery, SINCE_FORMS } from './event-query';
export type { EventQuery, RawEventQuery } from './event-query';
export { EXEC_UPGRADE, ExecFrameDecoder, ExecFrameType, MAX_EXEC_PAYLOAD, encodeExecFrame, execRequestQuery, parseExecRequest, parseTerminalSize } from './exec-wire';
export type { ExecRequest, ExecWireFrame } from './exec-wire';
export type { CreatedToken, TokenView } from './tokens';
export { ACCESS_CONFIG_KEYS, formatAccessConfig, type AccessConfig, type AccessConfigKey } from './access-config';

/**
 * Manifests: YAML or JSON → validated `ServiceDraft`s (one code path for the CLI and the server),
 * and the JSON views the API returns.
 */
export { MAX_MANIFEST_BYTES, parseManifests, type ManifestSource } from './parse';
export { validateManifestObjects } from './objects';
export { toNodeView, toServiceView, toSpecView, toTaskView } from './views';
export type { NodeUsage, NodeView, ServiceManifest, ServiceSpecView, ServiceView, TaskView, TemplateView } from './views';
export { diffService } from './diff';

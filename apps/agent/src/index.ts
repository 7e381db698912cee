export { startAgent, AGENT_VERSION, type AgentOptions, type RunningAgent } from './agent';
export { MetricsListenError } from './metrics/metrics-server';
export {
  establishIdentity,
  identityFiles,
  JOIN_HINT,
  loadIdentity,
  WrongNodeError,
  type EstablishOptions,
  type IdentityFiles,
  type NodeIdentity,
  type StoredIdentity,
} from './identity';

export { startAgent, AGENT_VERSION, type AgentOptions, type RunningAgent } from './agent';
export { MetricsListenError } from './metrics/metrics-server';

export { startAgent, AGENT_VERSION, type AgentOptions, type RunningAgent } from './agent';

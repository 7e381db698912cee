export * from './work-queue';
export * from './loops';
export { type Timers, realTimers, backoffDelay } from './timers';

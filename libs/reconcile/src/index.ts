export * from './work-queue';
export * from './loops';
export * from './signals';
export { Trigger } from './trigger';
export { RevisionWatermark } from './watermark';
export { type Timers, realTimers, backoffDelay } from './timers';

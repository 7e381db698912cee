export * from './model';
export { schedule, explain } from './schedule';
export { FILTERS, NODE_FILTERS, matchesConstraint, type Filter, type FilterResult } from './filters';
export { eligibleNodes } from './eligible';
export { hostPortsOf, taskSpec, type TaskSpec } from './task-spec';

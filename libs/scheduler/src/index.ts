export * from './model';
export { schedule, explain } from './schedule';
export { FILTERS, matchesConstraint, type Filter, type FilterResult } from './filters';

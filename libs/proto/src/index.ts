export * from './gen/berth/agent/v1/agent';
export * from './mappers';
export * from './assignment-parts';

export * from './errors';
export * from './service';
export * from './task';
export * from './node';
export * from './quantity';
export * from './names';
export * from './constraint';

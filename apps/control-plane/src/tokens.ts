/** Nest injection tokens for the ports the composition root hands to feature modules. */
export const STORE = Symbol('berth.store');
export const METRICS = Symbol('berth.metrics');
export const ELECTOR = Symbol('berth.elector');
export const DISPATCHER_OPTIONS = Symbol('berth.dispatcher-options');
export const NODE_GRACE = Symbol('berth.node-grace');
export const IMAGE_RESOLVER = Symbol('berth.image-resolver');

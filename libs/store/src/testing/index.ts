/**
 * `@berth/store/testing`: the in-memory Store and the contract suite every Store passes. Test code
 * only (the contract imports vitest): not part of the `@berth/store` barrel nor of its build.
 */
export { InMemoryStore } from './in-memory-store';
export { runStoreContract, type StoreUnderTest } from './store-contract';

import type { LeaderFence } from '../store';
import { InMemoryStore } from './in-memory-store';
import { runStoreContract } from './store-contract';

runStoreContract('InMemoryStore', async () => {
  const store = new InMemoryStore();
  let term = 1;
  const fenceOf = (n: number): LeaderFence => ({ leaderKey: '/berth/v1/leader', createRevision: String(n) });
  store.leaderFence = fenceOf(term);
  return {
    store,
    fence: fenceOf(term),
    newTerm: async () => (store.leaderFence = fenceOf(++term)),
  };
});

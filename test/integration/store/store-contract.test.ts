import { afterAll, beforeAll } from 'vitest';
import { createEtcdClient, EtcdStore, type Etcd3, type LeaderFence } from '@berth/store';
import { runStoreContract } from '@berth/store/testing';
import { requireTools } from '../../support/prereq';
import { startSingle, type EtcdMember } from './etcd-containers';

const ready = requireTools(['docker', 'etcd'], { root: true });

/** The store contract against one real etcd member; every test gets its own key prefix. */
if (ready) {
  let etcd: EtcdMember | undefined;
  let client: Etcd3;
  let n = 0;

  beforeAll(async () => {
    etcd = await startSingle();
    client = createEtcdClient({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    client?.close();
    await etcd?.container.stop({ timeout: 1 });
  });

  /** A term is the leader key's create revision: re-creating the key ends the term, as a new leader would. */
  const campaign = async (leaderKey: string): Promise<LeaderFence> => {
    await client.delete().key(leaderKey).exec();
    const res = await client.put(leaderKey).value('contract').exec();
    return { leaderKey, createRevision: res.header.revision };
  };

  runStoreContract('EtcdStore', async () => {
    const prefix = `/contract${++n}/`;
    const leaderKey = `${prefix}leader`;
    return {
      store: new EtcdStore(client, { prefix }),
      fence: await campaign(leaderKey),
      newTerm: () => campaign(leaderKey),
      cleanup: async () => void (await client.delete().prefix(prefix).exec()),
    };
  });
}

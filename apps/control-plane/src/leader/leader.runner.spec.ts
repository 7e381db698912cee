import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttpApp } from '../http/http-app';
import { ControlPlaneMetrics } from '../observability/metrics';
import { serviceFixture } from '../testing/fixtures';
import { InMemoryStore } from '@berth/store/testing';
import type { Elector, Lead } from './elector';

/** Waits for the loop to converge; generous because CI machines are shared, never a speed check. */
const eventually = <T>(check: () => T | Promise<T>): Promise<T> => vi.waitFor(check, { timeout: 10_000, interval: 10 });

const FENCE = { leaderKey: '/berth/v1/leader', createRevision: '42' };

/** Elector double: wins at once, then campaigns again only after `win()`; `depose()` ends a term. */
class ScriptedElector implements Elector {
  private term: AbortController | undefined;
  private wins = 1;
  private wake: (() => void) | undefined;

  async runAsLeader(signal: AbortSignal, onLead: (lead: Lead) => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      if (this.wins === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        continue;
      }
      this.wins--;
      this.term = new AbortController();
      signal.addEventListener('abort', () => this.term?.abort(), { once: true });
      await onLead({ id: 'cp-1', fence: FENCE, signal: this.term.signal });
    }
  }
  async currentLeader(): Promise<string | undefined> {
    return this.term && !this.term.signal.aborted ? 'cp-1' : undefined;
  }
  depose(): void {
    this.term?.abort();
  }
  win(): void {
    this.wins++;
    this.wake?.();
  }
}

describe('LeaderRunner', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const scrape = async (): Promise<string> => (await app!.inject({ method: 'GET', url: '/metrics' })).body;

  it('runs the status loop only while leading and reports it in berth_leader', async () => {
    const store = new InMemoryStore();
    store.leaderFence = FENCE;
    await store.applyServices([{ name: 'web', labels: {}, spec: serviceFixture('web').spec }]);
    const elector = new ScriptedElector();
    app = await createHttpApp({ store, metrics: new ControlPlaneMetrics(), elector });

    await eventually(async () => expect(await scrape()).toMatch(/^berth_leader 1$/m));
    await eventually(() => expect(store.statuses.items.get('web')).toMatchObject({ desired: 3, running: 0 }));
    expect(await scrape()).toContain('berth_service_replicas_desired{service="web"} 3');

    elector.depose();
    await eventually(async () => expect(await scrape()).toMatch(/^berth_leader 0$/m));
    expect(await scrape()).not.toContain('berth_service_replicas_desired{service="web"}');
    // A follower keeps no status current.
    await store.scaleService('web', 5);
    expect(store.statuses.items.get('web')?.desired).toBe(3);

    elector.win();
    await eventually(() => expect(store.statuses.items.get('web')?.desired).toBe(5));
  });

  it('stops campaigning and leading when the application closes', async () => {
    const store = new InMemoryStore();
    store.leaderFence = FENCE;
    const elector = new ScriptedElector();
    app = await createHttpApp({ store, metrics: new ControlPlaneMetrics(), elector });
    await eventually(async () => expect(await elector.currentLeader()).toBe('cp-1'));
    await app.close();
    app = undefined;
    expect(await elector.currentLeader()).toBeUndefined();
  });
});

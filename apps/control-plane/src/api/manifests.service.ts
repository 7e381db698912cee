import { Inject, Injectable } from '@nestjs/common';
import type { ServiceDraft } from '@berth/core';
import { diffService, parseManifests, toServiceView, validateManifestObjects, type ServiceView } from '@berth/api';
import type { ApplyAction, Store } from '@berth/store';
import { STORE } from '../tokens';
import { type ManifestInput, readManifestInput } from './request-body';

export interface ApplyResult {
  readonly items: { name: string; action: ApplyAction; service: ServiceView }[];
}

export interface DiffResult {
  readonly items: { name: string; action: ApplyAction; diff: string }[];
}

/** apply and diff: manifest → drafts (validated by the shared pure functions) → store. */
@Injectable()
export class ManifestsService {
  constructor(@Inject(STORE) private readonly store: Store) {}

  /** All drafts in one store transaction: every service is written, or none is. */
  async apply(body: unknown, dryRun: boolean): Promise<ApplyResult> {
    const drafts = toDrafts(readManifestInput(body));
    const outcomes = await this.store.applyServices(drafts, { dryRun });
    const statuses = await this.store.listServiceStatuses();
    return {
      items: outcomes.map((o) => ({ name: o.name, action: o.action, service: toServiceView(o.service, statuses.get(o.name)) })),
    };
  }

  /** What apply would do, with a unified diff per service; writes nothing. */
  async diff(body: unknown): Promise<DiffResult> {
    const drafts = toDrafts(readManifestInput(body));
    // A dry-run apply decides the action exactly as apply would (including 409 on a stale version).
    const outcomes = await this.store.applyServices(drafts, { dryRun: true });
    const current = await Promise.all(drafts.map((d) => this.store.getService(d.name)));
    return {
      items: drafts.map((d, i) => ({ name: d.name, action: outcomes[i]!.action, diff: diffService(current[i], d) })),
    };
  }
}

function toDrafts(input: ManifestInput): ServiceDraft[] {
  return input.kind === 'sources' ? parseManifests(input.sources) : validateManifestObjects(input.items);
}

import { Inject, Injectable } from '@nestjs/common';
import type { Service, ServiceDraft } from '@berth/core';
import { diffService, parseManifestsYielding, toServiceView, validateManifestObjectsYielding, type ServiceView } from '@berth/api';
import type { ApplyAction, ServiceWrites, StoreReads } from '@berth/store';
import { IMAGE_RESOLVER, SERVICE_WRITES, STORE_READS } from '../tokens';
import { pinImages } from './image-pinning';
import type { ImageResolver } from './image-resolver';
import { type ManifestInput, readManifestInput } from './request-body';
import { type Caller, requireAdminForPrivileged } from '../http/access';

export interface ApplyResult {
  readonly items: { name: string; action: ApplyAction; service: ServiceView }[];
  /** Accepted, but worth saying: e.g. an image that could not be pinned to a digest. */
  readonly warnings: string[];
}

export interface DiffResult {
  readonly items: { name: string; action: ApplyAction; diff: string }[];
}

/** apply and diff: manifest → drafts (validated by the shared pure functions) → images pinned → store. */
@Injectable()
export class ManifestsService {
  constructor(
    @Inject(STORE_READS) private readonly reads: StoreReads,
    @Inject(SERVICE_WRITES) private readonly writes: ServiceWrites,
    @Inject(IMAGE_RESOLVER) private readonly images: ImageResolver,
  ) {}

  /** All drafts in one store transaction: every service is written, or none is. Privileged tasks only for an admin `caller`. */
  async apply(body: unknown, dryRun: boolean, caller?: Caller): Promise<ApplyResult> {
    const parsed = await toDrafts(readManifestInput(body));
    for (const d of parsed) if (d.spec.template.securityContext?.privileged) requireAdminForPrivileged(caller, `service ${d.name}`);
    const { drafts, warnings } = await this.pinned(parsed);
    const outcomes = await this.writes.applyServices(drafts, { dryRun });
    const statuses = await this.reads.listServiceStatuses();
    return {
      items: outcomes.map((o) => ({ name: o.name, action: o.action, service: toServiceView(o.service, statuses.get(o.name)) })),
      warnings,
    };
  }

  /** What apply would do, with a unified diff per service; writes nothing. */
  async diff(body: unknown): Promise<DiffResult> {
    const { drafts, current } = await this.pinned(await toDrafts(readManifestInput(body)));
    // A dry-run apply decides the action exactly as apply would (including 409 on a stale version).
    const outcomes = await this.writes.applyServices(drafts, { dryRun: true });
    return {
      items: drafts.map((d, i) => ({ name: d.name, action: outcomes[i]!.action, diff: diffService(current[i], d) })),
    };
  }

  /**
   * The drafts with their images pinned as apply stores them (see planPin), beside the stored
   * services they were compared with. A reference that cannot be resolved is accepted unpinned,
   * with a warning.
   */
  private async pinned(drafts: ServiceDraft[]): Promise<{ drafts: ServiceDraft[]; current: (Service | undefined)[]; warnings: string[] }> {
    const current = await Promise.all(drafts.map((d) => this.reads.getService(d.name)));
    return { ...(await pinImages(drafts, current, this.images)), current };
  }
}

/** Validation gives the event loop a turn every few ms: a large apply holds up no lease renewal or other request. */
function toDrafts(input: ManifestInput): Promise<ServiceDraft[]> {
  return input.kind === 'sources' ? parseManifestsYielding(input.sources) : validateManifestObjectsYielding(input.items);
}

import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError, UnavailableError, ValidationError, type Service } from '@berth/core';
import { type Caller, requireAdminForPrivileged } from '../http/access';
import { toRevisionView, toServiceView, type RevisionView, type ServiceView } from '@berth/api';
import type { ServiceWrites, StoreReads } from '@berth/store';
import { IMAGE_RESOLVER, SERVICE_WRITES, STORE_READS } from '../tokens';
import { ImageResolveError, type ImageResolver } from './image-resolver';

/** Reads and small writes of services; every answer merges the leader-written status key. */
@Injectable()
export class ServicesService {
  constructor(
    @Inject(STORE_READS) private readonly reads: StoreReads,
    @Inject(SERVICE_WRITES) private readonly writes: ServiceWrites,
    @Inject(IMAGE_RESOLVER) private readonly images: ImageResolver,
  ) {}

  /** All services, sorted by name. */
  async list(): Promise<ServiceView[]> {
    const [services, statuses, rollouts] = await Promise.all([this.reads.listServices(), this.reads.listServiceStatuses(), this.reads.listRollouts()]);
    return [...services]
      .sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))
      .map((s) => toServiceView(s, statuses.get(s.meta.name), rollouts.get(s.meta.name)));
  }

  async get(name: string): Promise<ServiceView> {
    return this.view(await this.require(name));
  }

  /** Deletes the service as it was read (a concurrent change → 409) and returns that state. */
  async delete(name: string): Promise<ServiceView> {
    const service = await this.require(name);
    const view = await this.view(service);
    await this.writes.deleteService(name, { resourceVersion: service.meta.resourceVersion });
    return view;
  }

  async scale(name: string, replicas: number): Promise<ServiceView> {
    return this.view(await this.writes.scaleService(name, replicas));
  }

  /** The revision history, oldest first. */
  async revisions(name: string): Promise<{ items: RevisionView[] }> {
    const [service, revisions] = await Promise.all([this.require(name), this.reads.listRevisions(name)]);
    return { items: revisions.map((r) => toRevisionView(r, service.meta.revision)) };
  }

  /**
   * `rollout undo`: makes an earlier revision's spec current again (as a new revision). Without
   * `toRevision`, the one the current rollout started from (or else the one before the current).
   */
  /** Back to an earlier revision's spec; one with a privileged task only for an admin `caller`. */
  async undo(name: string, toRevision: number | undefined, caller?: Caller): Promise<ServiceView> {
    const service = await this.require(name);
    const rollout = await this.reads.getRollout(name);
    const target = toRevision ?? (rollout?.revision === service.meta.revision ? rollout.previousRevision : undefined) ?? service.meta.revision - 1;
    if (target === service.meta.revision) {
      throw new ValidationError([{ path: 'toRevision', message: `revision ${target} is the current one; name an earlier revision (berth rollout history ${name})` }]);
    }
    if (target < 1) throw new NotFoundError('revision', `${name}@${target}`, `service "${name}" has no earlier revision`);
    const revision = (await this.reads.listRevisions(name)).find((r) => r.revision === target);
    if (revision?.spec.template.securityContext?.privileged) requireAdminForPrivileged(caller, `revision ${target} of service ${name}`);
    return this.view(await this.writes.restoreRevision(name, target, { cause: `undo to revision ${target}`, resourceVersion: service.meta.resourceVersion }));
  }

  /**
   * `rollout restart`: a new revision whose tasks all start again, on the digest the image's tag
   * names now. A pinned service whose tag cannot be resolved is not restarted (UNAVAILABLE):
   * restarting it on its old digest would look like a move to the new one. An unpinned service
   * that still cannot be resolved restarts unpinned, as apply would accept it.
   */
  async restart(name: string): Promise<ServiceView> {
    const t = (await this.require(name)).spec.template;
    let imageDigest: string | undefined;
    // A vm.disk VM has no image: a restart just starts new tasks.
    if (t.imagePull === undefined && t.image !== undefined) {
      try {
        imageDigest = await this.images.resolve(t.image);
      } catch (e) {
        if (t.imageDigest !== undefined) {
          const why = e instanceof ImageResolveError ? e.message : `could not resolve ${t.image} to a digest (${String(e)})`;
          throw new UnavailableError(`${why}; nothing was restarted, ${name} stays on ${t.imageDigest}: try again once the control plane reaches the registry`);
        }
      }
    }
    return this.view(await this.writes.restartService(name, imageDigest === undefined ? {} : { imageDigest }));
  }

  async control(name: string, action: 'pause' | 'resume'): Promise<ServiceView> {
    return this.view(await this.writes.controlRollout(name, action));
  }

  private async require(name: string): Promise<Service> {
    const service = await this.reads.getService(name);
    if (!service) throw new NotFoundError('service', name);
    return service;
  }

  private async view(service: Service): Promise<ServiceView> {
    const [status, rollout] = await Promise.all([this.reads.getServiceStatus(service.meta.name), this.reads.getRollout(service.meta.name)]);
    return toServiceView(service, status, rollout);
  }
}

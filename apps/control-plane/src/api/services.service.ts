import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError, type Service } from '@berth/core';
import { toServiceView, type ServiceView } from '@berth/api';
import type { Store } from '@berth/store';
import { STORE } from '../tokens';

/** Reads and small writes of services; every answer merges the leader-written status key. */
@Injectable()
export class ServicesService {
  constructor(@Inject(STORE) private readonly store: Store) {}

  /** All services, sorted by name. */
  async list(): Promise<ServiceView[]> {
    const [services, statuses] = await Promise.all([this.store.listServices(), this.store.listServiceStatuses()]);
    return [...services]
      .sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))
      .map((s) => toServiceView(s, statuses.get(s.meta.name)));
  }

  async get(name: string): Promise<ServiceView> {
    return this.view(await this.require(name));
  }

  /** Deletes the service as it was read (a concurrent change → 409) and returns that state. */
  async delete(name: string): Promise<ServiceView> {
    const service = await this.require(name);
    const view = await this.view(service);
    await this.store.deleteService(name, { resourceVersion: service.meta.resourceVersion });
    return view;
  }

  async scale(name: string, replicas: number): Promise<ServiceView> {
    return this.view(await this.store.scaleService(name, replicas));
  }

  private async require(name: string): Promise<Service> {
    const service = await this.store.getService(name);
    if (!service) throw new NotFoundError('service', name);
    return service;
  }

  private async view(service: Service): Promise<ServiceView> {
    return toServiceView(service, await this.store.getServiceStatus(service.meta.name));
  }
}

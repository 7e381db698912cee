import 'reflect-metadata';
import { PATH_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import type { StoredToken } from '@berth/store';
import { ClusterController } from '../api/cluster.controller';
import { EventsController } from '../api/events.controller';
import { ServicesController } from '../api/services.controller';
import { TokensController } from '../api/tokens.controller';
import { TopController } from '../api/top.controller';
import { TaskLogsController } from '../dispatcher/task-logs.controller';
import type { TokenCheck, TokenService } from '../identity/tokens.service';
import { HealthController } from '../observability/health.controller';
import { MetricsController } from '../observability/metrics.controller';
import { ServiceDiscoveryController } from '../observability/sd.controller';
import { authenticate, bearerToken, permit, requiredRole } from './access';
import { auditEvent, isMutating } from './audit';

const CONTROLLERS = [ClusterController, EventsController, ServicesController, TokensController, TopController, TaskLogsController, HealthController, MetricsController, ServiceDiscoveryController];

/** Every route of a controller, with the role it declares. */
function routes(controller: new (...args: never[]) => unknown): [string, string | undefined][] {
  const proto = controller.prototype as Record<string, unknown>;
  return Object.getOwnPropertyNames(proto)
    .filter((name) => name !== 'constructor' && typeof proto[name] === 'function' && Reflect.getMetadata(PATH_METADATA, proto[name] as object) !== undefined)
    .map((name) => [`${controller.name}.${name}`, requiredRole(new Reflector(), proto[name] as () => unknown, controller)]);
}

const tokens = (stored: StoredToken | undefined): TokenService => ({ check: async (): Promise<TokenCheck> => (stored ? { token: stored } : { refused: 'token abc is unknown, expired or revoked' }) }) as unknown as TokenService;
const stored = (role: StoredToken['role']): StoredToken => ({ id: 'abc', role, secretHash: 'x', createdAt: '2026-01-01T00:00:00Z' });

describe('access', () => {
  it('every route declares the role it needs; only health and readiness are public', () => {
    const all = CONTROLLERS.flatMap(routes);
    expect(all.length).toBeGreaterThan(25);
    expect(all.filter(([, role]) => role === undefined)).toEqual([]);
    expect(all.filter(([, role]) => role === 'public').map(([name]) => name).sort()).toEqual(['HealthController.health', 'HealthController.ready']);
    const role = Object.fromEntries(all);
    expect(role['ServicesController.apply']).toBe('deployer');
    expect(role['ServicesController.list']).toBe('viewer');
    expect(role['ClusterController.remove']).toBe('admin');
    expect(role['TokensController.list']).toBe('admin');
    expect(role['TaskLogsController.stream']).toBe('deployer');
    expect(role['MetricsController.scrape']).toBe('viewer');
  });

  it('reads bearer tokens only', () => {
    expect(bearerToken('Bearer BERTHA1-x.y')).toBe('BERTHA1-x.y');
    expect(bearerToken('bearer  t ')).toBe('t');
    expect(bearerToken('Basic dXNlcg==')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('401 without a token, with a refused one and with a join token; 403 naming the role below the one needed', async () => {
    await expect(authenticate(tokens(stored('admin')), undefined)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('needs an API token') });
    await expect(authenticate(tokens(undefined), 'Bearer nope')).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'token abc is unknown, expired or revoked' });
    await expect(authenticate(tokens(stored('join')), 'Bearer j')).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('join token') });
    const viewer = await authenticate(tokens(stored('viewer')), 'Bearer v');
    expect(viewer).toEqual({ tokenId: 'abc', role: 'viewer' });
    expect(() => permit(viewer, 'deployer')).toThrow('this token\'s role "viewer" may not do this: it needs "deployer"');
    expect(() => permit({ tokenId: 'a', role: 'deployer' }, 'admin')).toThrow(/needs "admin"/);
    expect(() => permit({ tokenId: 'a', role: 'admin' }, 'deployer')).not.toThrow();
  });
});

describe('audit events', () => {
  it('name the token, the request, its answer and the resource versions in it', () => {
    const caller = { tokenId: 'abc', role: 'deployer' } as const;
    const answer = JSON.stringify({ items: [{ service: { metadata: { name: 'web', resourceVersion: '42' } } }, { service: { metadata: { resourceVersion: '43' } } }] });
    expect(auditEvent({ caller, method: 'POST', url: '/api/v1/apply', status: 200, answer })).toEqual({
      kind: 'audit',
      object: 'token:abc',
      reason: 'Request',
      message: 'POST /api/v1/apply by deployer token abc: 200 (resourceVersion 42, 43)',
    });
    expect(auditEvent({ caller: { tokenId: 'v', role: 'viewer' }, method: 'PUT', url: '/api/v1/services/web/scale', status: 403 })).toMatchObject({ reason: 'Denied', service: 'web' });
  });

  it('are kept for requests that can change something', () => {
    expect(isMutating('POST', '/api/v1/apply')).toBe(true);
    expect(isMutating('DELETE', '/api/v1/tokens/x')).toBe(true);
    expect(isMutating('GET', '/api/v1/services')).toBe(false);
    expect(isMutating('POST', '/api/v1/diff')).toBe(false);
  });
});

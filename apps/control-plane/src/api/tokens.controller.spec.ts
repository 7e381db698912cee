import { Test } from '@nestjs/testing';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NotFoundError } from '@berth/core';
import { ProblemFilter } from '../http/problem.filter';
import { TokenService, type NewTokenRequest, type TokenView } from '../identity/tokens.service';
import { readNewToken, TokensController } from './tokens.controller';

// The controller is tested alone: the real service (and the store behind it) is replaced by the
// double below, so only the class is needed here, as the injection token.
vi.mock('../identity/tokens.service', () => ({ TokenService: class TokenService {} }));

const CREATED_AT = '2026-03-01T12:00:00.000Z';

/** TokenService as the controller sees it: tokens in a map, in creation order. */
class TokensDouble {
  readonly requests: NewTokenRequest[] = [];
  private readonly tokens = new Map<string, TokenView>();

  async create(req: NewTokenRequest): Promise<TokenView & { token: string }> {
    this.requests.push(req);
    const id = `tok${this.tokens.size + 1}`;
    const view: TokenView = {
      id,
      role: req.role,
      createdAt: CREATED_AT,
      ...(req.ttlSeconds === undefined ? {} : { expiresAt: new Date(Date.parse(CREATED_AT) + req.ttlSeconds * 1000).toISOString() }),
      ...(req.description === undefined ? {} : { description: req.description }),
    };
    this.tokens.set(id, view);
    return { ...view, token: `berth_${id}_secret` };
  }

  async list(): Promise<TokenView[]> {
    return [...this.tokens.values()];
  }

  async revoke(id: string): Promise<TokenView> {
    const view = this.tokens.get(id);
    if (!view) throw new NotFoundError('token', id);
    this.tokens.delete(id);
    return view;
  }
}

describe('tokens API', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(): Promise<TokensDouble> {
    const tokens = new TokensDouble();
    const module = await Test.createTestingModule({ controllers: [TokensController], providers: [{ provide: TokenService, useValue: tokens }] }).compile();
    app = module.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    app.useGlobalFilters(new ProblemFilter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return tokens;
  }
  const create = (payload: unknown) => app!.inject({ method: 'POST', url: '/api/v1/tokens', payload: payload as object });

  it('creates a token: 201 with the secret, the role, the expiry and the description', async () => {
    const tokens = await start();
    const res = await create({ role: 'join', ttl: '24h', description: 'rack 3 agents' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: 'tok1',
      role: 'join',
      token: 'berth_tok1_secret',
      createdAt: CREATED_AT,
      expiresAt: '2026-03-02T12:00:00.000Z',
      description: 'rack 3 agents',
    });
    expect(tokens.requests).toEqual([{ role: 'join', ttlSeconds: 86_400, description: 'rack 3 agents' }]);
    const forever = await create({ role: 'admin' });
    expect(forever.statusCode).toBe(201);
    expect(forever.json()).toEqual({ id: 'tok2', role: 'admin', token: 'berth_tok2_secret', createdAt: CREATED_AT });
  });

  it('refuses a missing or unknown role with a problem naming the field, and asks the service nothing', async () => {
    const tokens = await start();
    const missing = await create({ ttl: '1h' });
    expect(missing.statusCode).toBe(422);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    expect(missing.json()).toMatchObject({ code: 'INVALID', issues: [{ path: 'role', message: 'must be "join", "viewer", "deployer" or "admin" (got nothing)' }] });
    const unknown = await create({ role: 'root' });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().detail).toBe('role must be "join", "viewer", "deployer" or "admin" (got "root")');
    const extra = await create({ role: 'join', scope: 'all' });
    expect(extra.json().issues).toEqual([{ path: 'scope', message: 'is not a known field (expected "role", "ttl" or "description")' }]);
    expect((await app!.inject({ method: 'POST', url: '/api/v1/tokens', headers: { 'content-type': 'application/json' }, payload: '[]' })).statusCode).toBe(422);
    expect(tokens.requests).toEqual([]);
  });

  it.each([
    ['forever', '"forever" is not a duration (use e.g. "500ms", "5s", "1m")'],
    [24, 'must be a duration string like "500ms", "5s" or "1m"'],
    ['30s', 'must be from 1m to 8760h (got "30s")'],
    ['8761h', 'must be from 1m to 8760h (got "8761h")'],
  ])('refuses the ttl %j with a problem naming the field', async (ttl, message) => {
    const tokens = await start();
    const res = await create({ role: 'viewer', ttl });
    expect(res.statusCode).toBe(422);
    expect(res.json().issues).toEqual([{ path: 'ttl', message }]);
    expect(tokens.requests).toEqual([]);
  });

  it('refuses a description that is too long, not a string or more than one line', async () => {
    await start();
    expect((await create({ role: 'deployer', description: 'x'.repeat(201) })).json().issues).toEqual([{ path: 'description', message: 'is 201 characters long; at most 200' }]);
    expect((await create({ role: 'deployer', description: 7 })).json().issues[0].path).toBe('description');
    expect((await create({ role: 'deployer', description: 'a\nb' })).statusCode).toBe(422);
    expect((await create({ role: 'deployer', description: 'x'.repeat(200) })).statusCode).toBe(201);
  });

  it('lists the tokens without their secrets', async () => {
    await start();
    expect((await app!.inject({ method: 'GET', url: '/api/v1/tokens' })).json()).toEqual({ items: [] });
    await create({ role: 'join' });
    await create({ role: 'viewer', ttl: '1h', description: 'grafana' });
    const res = await app!.inject({ method: 'GET', url: '/api/v1/tokens' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      items: [
        { id: 'tok1', role: 'join', createdAt: CREATED_AT },
        { id: 'tok2', role: 'viewer', createdAt: CREATED_AT, expiresAt: '2026-03-01T13:00:00.000Z', description: 'grafana' },
      ],
    });
    expect(res.body).not.toContain('secret');
  });

  it('revokes a token: 200 with what it was, then 404 problem', async () => {
    await start();
    await create({ role: 'deployer' });
    const res = await app!.inject({ method: 'DELETE', url: '/api/v1/tokens/tok1' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'tok1', role: 'deployer', createdAt: CREATED_AT });
    const again = await app!.inject({ method: 'DELETE', url: '/api/v1/tokens/tok1' });
    expect(again.statusCode).toBe(404);
    expect(again.headers['content-type']).toContain('application/problem+json');
    expect(again.json()).toMatchObject({ code: 'NOT_FOUND', detail: 'token "tok1" not found' });
    expect((await app!.inject({ method: 'GET', url: '/api/v1/tokens' })).json()).toEqual({ items: [] });
  });
});

describe('readNewToken', () => {
  it('reads whole seconds from the ttl and leaves out what was not given', () => {
    expect(readNewToken({ role: 'join' })).toEqual({ role: 'join' });
    expect(readNewToken({ role: 'admin', ttl: '1h30m', description: '' })).toEqual({ role: 'admin', ttlSeconds: 5400 });
    expect(readNewToken({ role: 'viewer', ttl: '8760h' })).toEqual({ role: 'viewer', ttlSeconds: 8760 * 3600 });
  });

  it('names every bad field at once', () => {
    expect(() => readNewToken({ role: 'x', ttl: 'y' })).toThrow('role must be "join", "viewer", "deployer" or "admin" (got "x")\nttl "y" is not a duration');
  });
});

import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { formatDuration, type Issue, parseDuration, TOKEN_ROLES, type TokenRole, ValidationError } from '@berth/core';
import { TokenService, type TokenView, type NewTokenRequest } from '../identity/tokens.service';
import { Access } from '../http/access';

/** Shortest and longest `ttl` of a token: a minute, a year (8760h). */
export const TOKEN_TTL_MIN_MS = 60_000;
export const TOKEN_TTL_MAX_MS = 8760 * 3_600_000;

/** Longest `description` of a token, in characters. */
export const TOKEN_DESCRIPTION_MAX = 200;

const FIELDS = ['role', 'ttl', 'description'];
const ROLE_LIST = '"join", "viewer", "deployer" or "admin"';

const invalid = (path: string, message: string): ValidationError => new ValidationError([{ path, message }]);

/**
 * The body of POST /tokens: `{ role, ttl?, description? }`; `ttl` is a duration like "24h" from
 * 1m to 8760h (absent: the token never expires). Every bad field is named at once.
 */
export function readNewToken(body: unknown): NewTokenRequest {
  const shape = 'body must be { "role": "join" | "viewer" | "deployer" | "admin", "ttl"?: "24h", "description"?: "…" }';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('', shape);
  const extra = Object.keys(body).filter((k) => !FIELDS.includes(k));
  if (extra.length > 0) throw invalid(extra[0]!, 'is not a known field (expected "role", "ttl" or "description")');
  const { role, ttl, description } = body as { role?: unknown; ttl?: unknown; description?: unknown };
  const issues: Issue[] = [];
  if (!TOKEN_ROLES.includes(role as TokenRole)) issues.push({ path: 'role', message: `must be ${ROLE_LIST} (got ${JSON.stringify(role) ?? 'nothing'})` });
  let ttlSeconds: number | undefined;
  if (ttl !== undefined) {
    const parsed = parseDuration(ttl);
    if (!parsed.ok) issues.push({ path: 'ttl', message: parsed.reason });
    else if (parsed.value < TOKEN_TTL_MIN_MS || parsed.value > TOKEN_TTL_MAX_MS) {
      issues.push({ path: 'ttl', message: `must be from ${formatDuration(TOKEN_TTL_MIN_MS)} to ${formatDuration(TOKEN_TTL_MAX_MS)} (got ${JSON.stringify(ttl)})` });
    } else ttlSeconds = Math.floor(parsed.value / 1000);
  }
  if (description !== undefined) {
    if (typeof description !== 'string') issues.push({ path: 'description', message: `must be a string (got ${JSON.stringify(description)})` });
    else if ([...description].length > TOKEN_DESCRIPTION_MAX) issues.push({ path: 'description', message: `is ${[...description].length} characters long; at most ${TOKEN_DESCRIPTION_MAX}` });
    else if (/[\u0000-\u001f\u007f]/.test(description)) issues.push({ path: 'description', message: 'must be one line of text (no control characters)' });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    role: role as TokenRole,
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
    ...(typeof description === 'string' && description !== '' ? { description } : {}),
  };
}

/** Join and API tokens: create (the secret is answered once), list (no secrets), revoke. */
@Access('admin')
@Controller('api/v1')
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @Post('tokens')
  create(@Body() body: unknown): Promise<TokenView & { token: string }> {
    return this.tokens.create(readNewToken(body));
  }

  @Get('tokens')
  async list(): Promise<{ items: TokenView[] }> {
    return { items: await this.tokens.list() };
  }

  @Delete('tokens/:id')
  revoke(@Param('id') id: string): Promise<TokenView> {
    return this.tokens.revoke(id);
  }
}

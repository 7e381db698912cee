import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type ApiRole, ForbiddenError, UnauthenticatedError } from '@berth/core';
import { TokenService } from '../identity/tokens.service';

/** What an API token may do, each role including the ones before it (docs/security.md). */
export type Role = ApiRole;
const RANK: Readonly<Record<Role, number>> = { viewer: 1, deployer: 2, admin: 3 };

/** Who made a request: the token's id and role (what audit events name). */
export interface Caller {
  readonly tokenId: string;
  readonly role: Role;
}

const ACCESS = 'berth:access';

/** The role a route needs; on a controller it is the default of its routes. */
export const Access = (role: Role | 'public') => SetMetadata(ACCESS, role);

/** The role a handler needs: its own, else its controller's; undefined when neither declares one. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- what Nest hands over for handlers and classes
export function requiredRole(reflector: Reflector, handler: Function, controller: Function): Role | 'public' | undefined {
  return reflector.getAllAndOverride<Role | 'public' | undefined, string>(ACCESS, [handler, controller]);
}

/** Where the guard leaves the caller on the request (for audit events and privileged tasks). */
export const CALLER = Symbol('berth.caller');

/** The caller the guard found for a request; undefined when the app runs without identity (unit tests). */
export function callerOf(request: unknown): Caller | undefined {
  return (request as { [CALLER]?: Caller } | undefined)?.[CALLER];
}

/**
 * 403 unless the caller is an admin: a privileged task is root on its node, so only an admin
 * token may put one in the cluster (apply, or undo to a revision that has one). `what` names it.
 */
export function requireAdminForPrivileged(caller: Caller | undefined, what: string): void {
  if (caller?.role === 'admin') return;
  throw new ForbiddenError(`${what} has securityContext.privileged: true, which needs an admin token (this token's role is "${caller?.role ?? 'none'}")`);
}

/** `Authorization: Bearer <token>` → the token; undefined when absent or another scheme. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return m?.[1];
}

/** The caller an Authorization header names: UnauthenticatedError (401) without a valid API token. */
export async function authenticate(tokens: TokenService, header: string | string[] | undefined): Promise<Caller> {
  const token = bearerToken(header);
  if (token === undefined) throw new UnauthenticatedError('this request needs an API token: Authorization: Bearer <token> (berth token create; the CLI reads it from its config file)');
  const check = await tokens.check(token);
  if ('refused' in check) throw new UnauthenticatedError(check.refused);
  const role = check.token.role;
  if (role === 'join') throw new UnauthenticatedError(`token ${check.token.id} is a join token: it admits nodes, not API requests`);
  return { tokenId: check.token.id, role };
}

/** ForbiddenError (403) naming the role needed when the caller's is lower. */
export function permit(caller: Caller, needs: Role): void {
  if (RANK[caller.role] < RANK[needs]) throw new ForbiddenError(`this token's role "${caller.role}" may not do this: it needs "${needs}"`);
}

/**
 * Every route of the API declares the role it needs (`@Access`); this guard checks the caller's
 * token against it. A route that declares nothing is refused: a forgotten annotation closes the
 * route rather than opening it.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const needs = requiredRole(this.reflector, context.getHandler(), context.getClass());
    if (needs === 'public') return true;
    if (needs === undefined) throw new ForbiddenError(`${context.getClass().name}.${context.getHandler().name} declares no access role`);
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; [CALLER]?: Caller }>();
    const caller = await authenticate(this.tokens, request.headers.authorization);
    request[CALLER] = caller; // named in the audit event, whether or not the role suffices
    permit(caller, needs);
    return true;
  }
}

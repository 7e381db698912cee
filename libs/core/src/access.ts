/**
 * What a token lets its holder do (docs/security.md): `join` admits nodes to the cluster; the
 * others are API roles, each including the ones before it.
 */
export const TOKEN_ROLES = ['join', 'viewer', 'deployer', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** The roles that use the API (every token role but `join`), least to most privileged. */
export type ApiRole = Exclude<TokenRole, 'join'>;

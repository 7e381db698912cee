import { Command, Option } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { OUTPUT_FORMATS, type OutputFormat } from '../input/args';
import { renderList } from '../output/lists';
import { serialize } from '../output/serialize';
import { TOKEN_ROLES, type TokenRole } from '@berth/core';
import { tokenLayout } from '../output/tokens';

const ROLES_HELP = `
Roles:
  join      agents join the cluster with it: berth agent --token TOKEN
  viewer    read (get, describe, events, top), /metrics and /sd
  deployer  what a viewer can, and apply, scale and delete services, rollouts, logs, exec
  admin     everything: nodes, tokens and privileged tasks
Only an admin token may create, list and revoke tokens.`;

const ROLE_CHOICES = 'join, viewer, deployer or admin';

export function tokenCommand(ctx: CliContext) {
  const token = new Command('token')
    .description('create, list and revoke join tokens (for agents) and API tokens (for people and tools)')
    .addHelpText(
      'after',
      `${ROLES_HELP}

A token's secret is shown once, when it is created; the control plane keeps only its hash, so a
lost token cannot be shown again: revoke it and create another. A join token admits any number of
nodes until it expires or is revoked.

Examples:
  TOKEN=$(berth token create --role join --ttl 24h --description "rack 3")
  berth token ls
  berth token revoke ID`,
    );
  token.addCommand(createCommand(ctx));
  token.addCommand(listCommand(ctx));
  token.addCommand(revokeCommand(ctx));
  return token;
}

function createCommand(ctx: CliContext) {
  return new Command('create')
    .description('create a token and print its secret (only the secret, so TOKEN=$(berth token create …) works)')
    .option('--role <role>', `what the token may do (required): ${ROLE_CHOICES}`)
    .option('--ttl <duration>', 'how long the token is valid, from 1m to 8760h (e.g. 24h, 30m); default: until revoked')
    .option('--description <text>', 'what the token is for (at most 200 characters), shown by berth token ls')
    .addOption(new Option('-o, --output <format>', 'json or yaml: the whole answer (id, role, token, createdAt, expiresAt, description)').choices(['json', 'yaml'] as const))
    .addHelpText(
      'after',
      `${ROLES_HELP}

The secret is printed once and is not stored: the control plane keeps only its hash.

Examples:
  TOKEN=$(berth token create --role join --ttl 24h)
  berth agent --server 10.0.0.1:7071 --token "$TOKEN"
  berth token create --role deployer --description "CI pipeline" -o json`,
    )
    .action(async (opts) => {
      const role = parseRole(opts.role);
      const body = { role, ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }), ...(opts.description === undefined ? {} : { description: opts.description }) };
      const created = await ctx.client().createToken(body);
      ctx.out(opts.output ? serialize(created, opts.output) : created.token);
    });
}

function listCommand(ctx: CliContext) {
  return new Command('ls')
    .alias('list')
    .description('list the tokens (never their secrets): id, role, age, when they expire, description')
    .addOption(new Option('-o, --output <format>', 'table (default), wide (exact times), json or yaml').choices(OUTPUT_FORMATS).default('table' as OutputFormat))
    .action(async (opts) => {
      const items = await ctx.client().listTokens();
      if (opts.output === 'json' || opts.output === 'yaml') ctx.out(serialize(items, opts.output));
      else if (items.length === 0) ctx.err('No tokens found.');
      else ctx.out(renderList(tokenLayout, items, { wide: opts.output === 'wide', now: ctx.now() }));
    });
}

function revokeCommand(ctx: CliContext) {
  return new Command('revoke')
    .description('revoke a token: it is refused from now on')
    .argument('<id>', 'the token, by its ID (berth token ls)')
    .action(async (id) => {
      await ctx.client().revokeToken(id);
      ctx.out(`token ${id} revoked`);
    });
}

/** `--role`, checked before anything is sent: a missing or unknown role is a usage error (exit 2). */
export function parseRole(value: string | undefined): TokenRole {
  if (value === undefined) throw new UsageError(`--role is required: ${ROLE_CHOICES} (berth token create --help says what each may do)`);
  if (!(TOKEN_ROLES as readonly string[]).includes(value)) throw new UsageError(`--role must be ${ROLE_CHOICES} (got "${value}")`);
  return value as TokenRole;
}

import type { Server as TlsServer } from 'node:tls';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { LogLevel } from '@nestjs/common';
import { AppModule } from '../app.module';
import { TaskExecs } from '../dispatcher/task-exec';
import type { AppDeps } from '../infra.module';
import { CALLER, type Caller } from './access';
import { auditEvent, isMutating } from './audit';
import { ProblemFilter } from './problem.filter';

/** Requests larger than this are refused with 413 before they are parsed (docs/api.md). */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

export interface HttpAppOptions {
  readonly logLevels?: LogLevel[];
}

/**
 * Builds and initialises the Nest application on Fastify (not yet listening): the problem+json
 * filter, the YAML body parser and the request-duration metric. With `deps.identity` it serves
 * HTTPS only, with the control plane's certificate (renewals taken up for new connections), and
 * every mutating request leaves an audit event. Initialising starts the leader campaign when
 * `deps.elector` is given; `app.close()` stops it.
 */
export async function createHttpApp(deps: AppDeps, opts: HttpAppOptions = {}): Promise<NestFastifyApplication> {
  const serving = deps.identity?.serving;
  const adapter = new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES, ...(serving ? { https: { cert: serving.current.certPem, key: serving.current.keyPem } } : {}) });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.create(deps), adapter, {
    logger: opts.logLevels ?? ['error', 'warn'],
    // Feature modules import one shared InfraModule object; compare modules by reference rather
    // than by hashing their metadata (which would walk the store's etcd client).
    moduleIdGeneratorAlgorithm: 'reference',
    abortOnError: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  // A raw YAML manifest is handed to the controller as text; the manifest parser owns it.
  fastify.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  fastify.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the raw URL: one series per route, whatever the names in it.
    deps.metrics.observeRequest(request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  const identity = deps.identity;
  if (identity) {
    serving?.onRenewal(({ certPem, keyPem }) => (fastify.server as unknown as TlsServer).setSecureContext({ cert: certPem, key: keyPem }));
    // Recorded before the answer goes out: an acknowledged change always has its audit entry.
    fastify.addHook('onSend', async (request, reply, payload) => {
      const caller = (request as unknown as { [CALLER]?: Caller })[CALLER];
      const path = request.url.split('?')[0]!;
      if (caller && isMutating(request.method, path)) {
        const answer = typeof payload === 'string' ? payload : undefined;
        await identity.store
          .recordEvents([auditEvent({ caller, method: request.method, url: request.url, status: reply.statusCode, ...(answer ? { answer } : {}) })])
          .catch((e: unknown) => process.stderr.write(`berth api: could not record the audit event of ${request.method} ${path}: ${(e as Error).message}\n`));
      }
      return payload;
    });
  }
  app.useGlobalFilters(new ProblemFilter());
  await app.init();
  // Nest registers a form parser on init; a manifest posted as a form (curl's default type) would
  // arrive as a mangled object — refuse the type instead, with a hint (see toProblem).
  if (fastify.hasContentTypeParser('application/x-www-form-urlencoded')) {
    fastify.removeContentTypeParser('application/x-www-form-urlencoded');
  }
  await fastify.ready();
  if (deps.dispatcher) {
    // `berth exec` upgrades its request to a byte stream, which Fastify's routes do not serve.
    const execs = app.get(TaskExecs);
    fastify.server.on('upgrade', (req, socket, head) => execs.handleUpgrade(req, socket, head));
  }
  return app;
}

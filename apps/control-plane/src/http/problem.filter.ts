import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import { toProblem } from './problem';

/** The part of Fastify's reply the filter uses (fastify is a dependency of the Nest adapter, not ours). */
interface Reply {
  status(code: number): Reply;
  header(name: string, value: string): Reply;
  send(payload: unknown): unknown;
}

/** The one place errors become HTTP: every error leaves as application/problem+json. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly log = new Logger('api');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<Reply>();
    const body = toProblem(exception);
    if (body.status >= 500 && body.code !== 'UNAVAILABLE') this.log.error(exception instanceof Error ? exception.stack : String(exception));
    if (body.status === 401) reply.header('www-authenticate', 'Bearer realm="berth"');
    reply.status(body.status).header('content-type', 'application/problem+json; charset=utf-8').send(body);
  }
}

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, StandIn } from '../__fixtures__/stand-in';
import { webService } from '../output/__fixtures__/views';

const WEB = 'apiVersion: berth/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  replicas: 3\n  template: { image: "127.0.0.1:5999/busybox:1" }\n';
const WARNING = 'web: could not resolve 127.0.0.1:5999/busybox:1 to a digest (connection refused); every node pulls the tag itself, so nodes may run different images';

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

describe('berth apply warnings', () => {
  beforeEach(() => {
    api.on('POST /api/v1/apply', json(200, { items: [{ name: 'web', action: 'created', service: webService }], warnings: [WARNING] }));
  });

  it('prints each warning on stderr and still exits 0', async () => {
    const r = await berth(api.url, ['apply', '-f', '-'], { stdin: WEB });
    expect(r).toMatchObject({ code: 0, out: 'service/web created', err: `warning: ${WARNING}` });
  });

  it('keeps stdout for the JSON with -o json', async () => {
    const r = await berth(api.url, ['apply', '-f', '-', '-o', 'json'], { stdin: WEB });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([{ name: 'web', action: 'created', service: webService }]);
    expect(r.err).toBe(`warning: ${WARNING}`);
  });

  it('reads an answer without warnings (an older server) as none', async () => {
    api.reset();
    api.on('POST /api/v1/apply', json(200, { items: [{ name: 'web', action: 'created', service: webService }] }));
    expect(await berth(api.url, ['apply', '-f', '-'], { stdin: WEB })).toMatchObject({ code: 0, out: 'service/web created', err: '' });
  });
});

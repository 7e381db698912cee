import { describe, expect, it } from 'vitest';
import { keyspace, nameOf, prefixEnd, serviceOfTask } from './keys';

describe('keyspace', () => {
  const k = keyspace();

  it('lays keys out under /berth/v1/', () => {
    expect(k.service('web')).toBe('/berth/v1/services/web');
    expect(k.status('web')).toBe('/berth/v1/status/services/web');
    expect(k.node('n1')).toBe('/berth/v1/nodes/n1');
    expect(k.alive('n1')).toBe('/berth/v1/alive/n1');
    expect(k.leader).toBe('/berth/v1/leader');
  });

  it("lists one service's tasks with a trailing slash, so web never matches web2", () => {
    expect(k.tasksOf('web')).toBe('/berth/v1/tasks/web/');
    expect(k.task('web2.1.abc').startsWith(k.tasksOf('web'))).toBe(false);
    expect(k.task('web.1.abc')).toBe('/berth/v1/tasks/web/web.1.abc');
    expect(k.tasksOf()).toBe('/berth/v1/tasks/');
  });

  it('keeps the status prefix out of the services prefix', () => {
    expect(k.status('web').startsWith(k.services)).toBe(false);
  });

  it('adds the missing slash to a custom prefix', () => {
    expect(keyspace('/x').service('a')).toBe('/x/services/a');
  });
});

describe('key helpers', () => {
  it('names the object behind a key', () => {
    expect(nameOf('/berth/v1/tasks/web/web.1.abc')).toBe('web.1.abc');
  });

  it('finds the service of a task id', () => {
    expect(serviceOfTask('api-2.3.x9')).toBe('api-2');
  });

  it('computes the range end of a prefix', () => {
    expect(prefixEnd('/a/').toString()).toBe('/a0');
    // "ÿ" is c3 bf in UTF-8: the last byte is bumped, not the character.
    expect([...prefixEnd('a\u00ff')]).toEqual([0x61, 0xc3, 0xc0]);
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH, parseImageConfig } from './image-config';

describe('parseImageConfig', () => {
  it('reads entrypoint, cmd, env, user and working dir', () => {
    const c = parseImageConfig({
      architecture: 'amd64',
      config: { Entrypoint: ['/entry'], Cmd: ['run', '--fast'], Env: ['PATH=/opt/bin', 'A=1=2'], User: 'app:staff', WorkingDir: '/app' },
    });
    expect(c).toEqual({ entrypoint: ['/entry'], cmd: ['run', '--fast'], env: { PATH: '/opt/bin', A: '1=2' }, user: 'app:staff', workingDir: '/app' });
  });

  it("gives Docker's default PATH when the image sets none, and tolerates missing or odd fields", () => {
    expect(parseImageConfig({ config: { Env: ['X=1'] } }).env).toEqual({ X: '1', PATH: DEFAULT_PATH });
    expect(parseImageConfig({})).toEqual({ entrypoint: [], cmd: [], env: { PATH: DEFAULT_PATH }, user: undefined, workingDir: undefined });
    expect(parseImageConfig({ config: { Cmd: 'sh', Entrypoint: null, User: '', Env: ['NOEQUALS'] } })).toEqual({
      entrypoint: [],
      cmd: [],
      env: { PATH: DEFAULT_PATH },
      user: undefined,
      workingDir: undefined,
    });
  });
});

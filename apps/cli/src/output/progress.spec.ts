import { describe, expect, it } from 'vitest';
import { ProgressBoard } from './progress';

describe('ProgressBoard', () => {
  it('off a TTY prints a service line again only when it changed', () => {
    const board = new ProgressBoard(false);
    expect(board.update(['web: 0/3 running', 'api: 0/1 running'])).toBe('web: 0/3 running\napi: 0/1 running\n');
    expect(board.update(['web: 0/3 running', 'api: 0/1 running'])).toBe('');
    expect(board.update(['web: 2/3 running', 'api: 0/1 running'])).toBe('web: 2/3 running\n');
    expect(board.finish()).toBe('');
  });

  it('on a TTY redraws the block in place and ends it with a newline', () => {
    const board = new ProgressBoard(true);
    expect(board.update(['web: 0/3 running'])).toBe('\x1b[2Kweb: 0/3 running');
    expect(board.update(['web: 0/3 running'])).toBe('');
    expect(board.update(['web: 1/3 running'])).toBe('\r\x1b[2Kweb: 1/3 running');
    expect(board.finish()).toBe('\n');
  });

  it('on a TTY moves up over a block of several services before redrawing it', () => {
    const board = new ProgressBoard(true);
    board.update(['web: 0/3 running', 'api: 0/1 running', 'db: 0/1 running']);
    expect(board.update(['web: 3/3 running', 'api: 0/1 running', 'db: 1/1 running'])).toBe(
      '\r\x1b[2A\x1b[2Kweb: 3/3 running\n\x1b[2Kapi: 0/1 running\n\x1b[2Kdb: 1/1 running',
    );
  });
});

import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

/**
 * One output stream of an exec: the bytes of its port as they come, paused while the reader is
 * behind (so the guest's writes block), ended once as many bytes came as the guest counted.
 */
export class PortOutput extends Readable {
  private socket: Socket | undefined;
  private received = 0;
  private expected: number | undefined;
  private over = false;

  /** `progress` is told of every chunk that comes once the end is awaited (expect). */
  constructor(private readonly progress: () => void) {
    super();
  }

  attach(socket: Socket, transform?: (chunk: Buffer) => Buffer): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      const data = transform ? transform(chunk) : chunk;
      if (data.length > 0 && !this.over && !this.push(data)) socket.pause();
      this.check();
      if (this.expected !== undefined) this.progress();
    });
    socket.on('error', () => undefined); // the exec's end (or the VM's) says what happened
  }

  override _read(): void {
    this.socket?.resume();
  }

  /** The stream ends once `bytes` have come (at once if they have). */
  expect(bytes: number): void {
    this.expected = bytes;
    this.check();
  }

  get complete(): boolean {
    return this.over;
  }

  /** Ends the stream now, after `last`. */
  finish(last?: Buffer): void {
    if (this.over) return;
    if (last && last.length > 0) this.push(last);
    this.over = true;
    this.push(null);
  }

  private check(): void {
    if (this.expected !== undefined && this.received >= this.expected) this.finish();
  }
}

import type { Informer, WatchEvent } from '../store';

type Listener<T> = (event: WatchEvent<T>) => void;

/** A collection with change notification: the in-memory stand-in for an etcd prefix + watch. */
export class Collection<T> {
  readonly items = new Map<string, T>();
  private readonly listeners = new Set<Listener<T>>();
  constructor(private readonly revision: () => string) {}

  put(key: string, value: T): void {
    this.items.set(key, value);
    this.emit({ type: 'put', key, value, revision: this.revision() });
  }
  delete(key: string): void {
    if (this.items.delete(key)) this.emit({ type: 'delete', key, revision: this.revision() });
  }
  listen(l: Listener<T>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  private emit(e: WatchEvent<T>): void {
    for (const l of this.listeners) l(e);
  }
}

/**
 * An informer over a Collection: its cache is the collection itself. As an etcd informer does, it
 * emits what it lists as puts, then each change, synchronously, while running.
 */
export class MemoryInformer<T> implements Informer<T> {
  private readonly listeners = new Set<Listener<T>>();
  constructor(
    private readonly source: Collection<T>,
    private readonly revision: () => string,
  ) {}
  async run(signal: AbortSignal): Promise<void> {
    const revision = this.revision();
    for (const [key, value] of this.source.items) this.listeners.forEach((l) => l({ type: 'put', key, value, revision }));
    const off = this.source.listen((e) => this.listeners.forEach((l) => l(e)));
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    off();
  }
  synced(): Promise<void> {
    return Promise.resolve();
  }
  get(key: string): T | undefined {
    return this.source.items.get(key);
  }
  list(): T[] {
    return [...this.source.items.values()];
  }
  subscribe(listener: Listener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

import { guestInitramfs, type GuestRoot } from './initramfs';
import { resolveKernel } from './kernel';

/** What `qemu -kernel … -initrd …` boots. */
export interface BootKit {
  readonly kernel: string;
  readonly initrd: string;
}

/**
 * The boot kits of one driver, built once per kernel spec (`vm.kernel`, or undefined for the
 * host's newest kernel) and root mode (see GuestRoot) and shared by every VM that names them. A failed build is forgotten, so
 * the next task naming that kernel tries again; it rejects with resolveKernel's or
 * guestInitramfs's TaskSpecError (naming no task).
 */
export class BootKits {
  private readonly kits = new Map<string, Promise<BootKit>>();

  constructor(private readonly o: { readonly cacheDir: string; readonly busybox?: string }) {}

  get(spec: string | undefined, root: GuestRoot = '9p'): Promise<BootKit> {
    const key = `${root}:${spec ?? ''}`;
    const known = this.kits.get(key);
    if (known) return known;
    const kit = this.build(spec, root);
    this.kits.set(key, kit);
    kit.catch(() => {
      if (this.kits.get(key) === kit) this.kits.delete(key);
    });
    return kit;
  }

  private async build(spec: string | undefined, root: GuestRoot): Promise<BootKit> {
    const kernel = await resolveKernel(spec);
    return { kernel: kernel.path, initrd: await guestInitramfs(kernel, this.o.cacheDir, { busybox: this.o.busybox, root }) };
  }
}

// The guest boot kit of the qemu driver: kernel, initramfs, the guest's /init, and the
// host ↔ guest protocol.
export { writeNewc, type CpioEntry } from './cpio';
export { GUEST_APPLETS, GUEST_INIT_SCRIPT } from './guest-init';
export {
  GUEST_PORTS,
  GUEST_SHARES,
  encodeGuestSpec,
  guestCommandLine,
  hostTscKhz,
  parseGuestStatus,
  shellQuote,
  type GuestSpec,
  type GuestStatus,
} from './guest-protocol';
export { GUEST_MODULES, guestInitramfs, moduleLoadOrder, moduleName, staticElfProblem } from './initramfs';
export { bzImageVersion, compareVersions, resolveKernel, type GuestKernel } from './kernel';

export * from './driver';
export { toolMessage } from './command';
export * from './errors';
export * from './images/image-ref';
export * from './images/image-config';
export * from './images/image-store';
export { resolveLayoutTag } from './images/oci-layout';
export * from './logs/cri-log';
export * from './runc/oci-spec';
export * from './runc/runc-driver';
export { DEFAULT_USER_NAMESPACE_BASE, nodeIdRange, type IdRange } from './user-namespace';
export { shiftedRootfsDir } from './images/shifted-rootfs';
export * from './network';
// The named fake runtime for tests and scale benchmarks; never offered to operators.
export { HollowDriver, HollowHost } from './hollow/hollow-driver';
export { hollowCommand, type HollowProgram } from './hollow/hollow-program';
// The qemu driver (runtime vm): microVMs booted from the task's image, and what the agent reports of it.
export { QemuDriver, type QemuDriverOptions } from './qemu/qemu-driver';
export { probeAcceleration, type Acceleration, type AccelerationProbeOptions } from './qemu/accel';
export { DEFAULT_VM_MEMORY_MIB, MIN_VM_MEMORY_MIB, QEMU_MEMORY_OVERHEAD_MIB, guestMemoryMiB, vmMemoryLimitBytes, type Accel } from './qemu/qemu-args';
export { hostVethOf } from './task-stats';

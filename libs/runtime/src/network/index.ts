export type { NetworkAttachment, TaskNetwork } from './task-network';
export { CniNetwork } from './cni-network';
export {
  DEFAULT_BRIDGE,
  DEFAULT_CNI_BIN_DIR,
  DEFAULT_NETNS_DIR,
  DEFAULT_SUBNET,
  resolveNodeNetworkConfig,
  type NodeNetworkConfig,
  type NodeNetworkOptions,
} from './config';
export { buildCniConfigs, CNI_VERSION, type CniPluginConfig } from './cni-config';
export { isHostPortFree } from './host-ports';
export { CniPluginError, HostPortInUseError, InvalidNetworkConfigError, NetworkSetupError } from './errors';

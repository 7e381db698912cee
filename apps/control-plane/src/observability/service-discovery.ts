import type { NodeInfo } from '@berth/core';
import type { ControlPlaneMember } from '@berth/store';

/** One entry of Prometheus's HTTP service discovery (`http_sd_configs`): targets sharing labels. */
export interface SdTargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * What Prometheus should scrape: every control-plane replica announced now (its API serves
 * /metrics) and every node whose agent exports metrics — down ones included, so that `up == 0`
 * says the agent cannot be reached rather than its target silently vanishing. Pure.
 */
export function discoveryTargets(members: readonly ControlPlaneMember[], nodes: readonly NodeInfo[]): SdTargetGroup[] {
  const planes = members.map((m) => {
    const url = new URL(m.apiUrl);
    return { targets: [url.host], labels: { __scheme__: url.protocol.replace(/:$/, ''), __meta_berth_role: 'control-plane', __meta_berth_member: m.id, __meta_berth_version: m.version } };
  });
  const agents = [...nodes]
    .filter((n): n is NodeInfo & { metricsAddress: string } => n.metricsAddress !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => ({
      targets: [n.metricsAddress],
      labels: {
        __scheme__: 'http',
        __meta_berth_role: 'agent',
        __meta_berth_node: n.name,
        __meta_berth_node_state: n.state,
        ...Object.fromEntries(Object.entries(n.labels).map(([k, v]) => [`__meta_berth_node_label_${labelName(k)}`, v])),
      },
    }));
  return [...planes, ...agents];
}

/** A node label key as a Prometheus label name: every character outside [a-zA-Z0-9_] becomes `_`. */
export function labelName(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_');
}

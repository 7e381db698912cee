import { describe, expect, it } from 'vitest';
import type { Assignment } from './model';
import { toTaskConfig } from './task-runner';

const assignment = (spec: Partial<Assignment['spec']> = {}): Assignment => ({
  taskId: 'web.1.abc',
  service: 'web',
  slot: 1,
  specGeneration: 1,
  desiredState: 'running',
  spec: { runtime: 'container', image: 'oci:/x:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10, ...spec },
});

describe('toTaskConfig', () => {
  it('hands the driver the template’s securityContext, and none when the template has none', () => {
    const securityContext = { addCapabilities: ['CAP_NET_BIND_SERVICE' as const], readOnlyRootFilesystem: true as const, runAsUser: 1000 };
    expect(toTaskConfig(assignment({ securityContext })).securityContext).toEqual(securityContext);
    expect(toTaskConfig(assignment())).not.toHaveProperty('securityContext');
  });
});

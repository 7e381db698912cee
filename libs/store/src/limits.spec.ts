import { describe, expect, it } from 'vitest';
import { EMBEDDED_MAX_TXN_OPS, ETCD_DEFAULT_MAX_TXN_OPS, TASK_BATCH_MAX, taskBatchFor } from './limits';

describe('taskBatchFor', () => {
  it("fits a batch's changes, their events and compares in the etcd's operation limit, capped for latency", () => {
    expect(taskBatchFor(ETCD_DEFAULT_MAX_TXN_OPS)).toBe(42);
    expect(3 * taskBatchFor(ETCD_DEFAULT_MAX_TXN_OPS) + 1).toBeLessThanOrEqual(ETCD_DEFAULT_MAX_TXN_OPS);
    expect(taskBatchFor(EMBEDDED_MAX_TXN_OPS)).toBe(TASK_BATCH_MAX);
    expect(taskBatchFor(1)).toBe(1);
  });
});

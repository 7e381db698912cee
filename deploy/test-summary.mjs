// Sums vitest JSON reports into one closing line, "tests: N passed, N failed, N skipped".
import { existsSync, readFileSync } from 'node:fs';
let passed = 0, failed = 0, skipped = 0;
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) { failed += 1; continue; } // a suite that crashed before reporting
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  if (r.numFailedTests === 0) failed += r.numFailedTestSuites ?? 0; // a suite that failed in a hook
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);

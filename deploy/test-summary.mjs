// Sums vitest JSON reports into one closing line, "tests: N passed, N failed, N skipped", preceded
// by one line per failure (suite file, test name, first line of the reason): CI keeps only the tail
// of the log, and that tail must say what failed.
import { existsSync, readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';

let passed = 0, failed = 0, skipped = 0;
const failures = [];
const firstLine = (text) => String(text ?? '').split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 300) ?? '';

for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) { // a suite that crashed before reporting
    failed += 1;
    failures.push(`${basename(file, '.json')}: no report (the run crashed before writing it)`);
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  if (r.numFailedTests === 0) failed += r.numFailedTestSuites ?? 0; // a suite that failed in a hook
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  for (const suite of r.testResults ?? []) {
    const where = relative(process.cwd(), suite.name ?? '');
    const failedTests = (suite.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of failedTests) failures.push(`${where} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
    if (suite.status === 'failed' && failedTests.length === 0) failures.push(`${where}: ${firstLine(suite.message)}`);
  }
}
for (const f of failures) console.log(`FAILED ${f}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);

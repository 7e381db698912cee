#!/usr/bin/env bash
# `npm test`: install what is missing, build, then run every suite: lint, typecheck, unit,
# integration (real etcd in Docker, runc, CNI) and end to end (the built `berth` binary).
# Suites that need root or host tools fail under CI=true when they cannot run; locally they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-host-deps.sh --test
bash deploy/ensure-node-deps.sh

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
status=0
step() { echo; echo "== $*" >&2; }
suite() { # project
  step "$1 tests"
  npx --no-install vitest run --project "$1" --reporter=default --reporter=json \
    --outputFile.json="$reports/$1.json" || status=1
}

step lint;      npx --no-install eslint . --max-warnings=0
step typecheck; npx --no-install tsc -p tsconfig.json --noEmit
suite unit
# engines.node is ">=20": the unit suite also runs on the current LTS line.
step "unit tests on Node 24"
lts=$(bash deploy/ensure-node-lts.sh)
"$lts" node_modules/vitest/vitest.mjs run --project unit --reporter=dot --reporter=json \
  --outputFile.json="$reports/unit-node-lts.json" || status=1
suite integration
suite e2e
node deploy/test-summary.mjs "$reports"/*.json
exit $status

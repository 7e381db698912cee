#!/usr/bin/env bash
# `npm run bench`: install what is missing, build, then run the benchmarks in test/bench and print
# their figures (berth beside bare runc and Docker Swarm on this machine). Not part of `npm test`.
#   BERTH_BENCH_OUT=FILE   also write the figures as JSON
#   BERTH_SWARM_PEER=PATH  the Swarm peer script (default: ../shared/bench/swarm-peer.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-host-deps.sh --test
bash deploy/ensure-node-deps.sh
exec npx --no-install vitest run --project bench --reporter=verbose "$@"

#!/usr/bin/env bash
# `npm run up`: install what is missing, build, and run a one-node berth cluster in the foreground
# (embedded etcd + control plane). Extra arguments go to `berth up`, e.g. `npm run up -- --api 127.0.0.1:7070`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-host-deps.sh
bash deploy/ensure-node-deps.sh
exec node apps/cli/bin/berth.js up "$@"

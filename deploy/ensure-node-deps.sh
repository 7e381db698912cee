#!/usr/bin/env bash
# Installs npm dependencies when node_modules is missing or older than package-lock.json, then
# builds (tsc -b is incremental: a no-op when nothing changed). Idempotent and quick.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.berth-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "berth: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
npx --no-install tsc -b tsconfig.build.json

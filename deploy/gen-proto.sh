#!/usr/bin/env bash
# Regenerates libs/proto/src/gen from proto/ with buf + ts-proto (both npm packages; no network).
# The generated code is committed; the unit suite checks it matches the .proto files.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf libs/proto/src/gen
npx --no-install buf lint
npx --no-install buf generate

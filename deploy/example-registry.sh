#!/usr/bin/env bash
# A local image registry for the examples, in the foreground (Ctrl-C stops it):
#   deploy/example-registry.sh [--data-dir DIR] [--listen HOST:PORT]
# Runs the distribution's docker-registry on 127.0.0.1:5000 (data in /var/lib/berth/example-registry)
# and pushes busybox as 127.0.0.1:5000/busybox:1, built from the distribution's busybox-static by
# deploy/build-busybox-oci.sh (no network needed). berth pulls from loopback registries over plain
# HTTP, so examples/web.yaml and examples/hello-port.yaml then run with a plain `npm run up`.
set -euo pipefail
cd "$(dirname "$0")/.."

data=/var/lib/berth/example-registry
listen=127.0.0.1:5000
while [[ $# -gt 0 ]]; do
  case $1 in
    --data-dir) data=${2:?--data-dir needs a directory}; shift 2 ;;
    --listen) listen=${2:?--listen needs HOST:PORT}; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "example-registry: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bash deploy/install-host-deps.sh --test
mkdir -p "$data/storage"
cat >"$data/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog: { disabled: true }
storage:
  filesystem:
    rootdirectory: $data/storage
http:
  addr: $listen
  secret: berth-example-registry
EOF

# Its log (every HEAD of a blob not yet pushed is an "error" there) goes to a file, not the terminal.
docker-registry serve "$data/config.yml" 2>>"$data/registry.log" &
registry=$!
trap 'kill "$registry" 2>/dev/null; wait "$registry" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 50); do
  curl -fsS "http://$listen/v2/" >/dev/null 2>&1 && break
  kill -0 "$registry" 2>/dev/null || { echo "example-registry: docker-registry exited (is $listen in use? see $data/registry.log)" >&2; exit 1; }
  sleep 0.1
done

layout="$data/busybox-layout"
[[ -f $layout/index.json ]] || bash deploy/build-busybox-oci.sh "$layout" 1 >/dev/null
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:1" "docker://$listen/busybox:1"
echo "example-registry: serving $listen/busybox:1 (Ctrl-C stops it)" >&2
wait "$registry"

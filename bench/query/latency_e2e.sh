#!/usr/bin/env bash
# latency_e2e.sh SLUNG_BIN [RATE=500000] [SECONDS=5] - builds the C SDK's alert_system
# example, starts `slung serve --wasm` on a free loopback port with a temporary data
# directory, runs latency_e2e.js against it, and stops the server. Not a test.
set -euo pipefail
BIN=${1:?usage: latency_e2e.sh SLUNG_BIN [RATE] [SECONDS]}
RATE=${2:-500000}
SECS=${3:-5}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SDK=$HERE/../../sdk/c
TMP=$(mktemp -d /tmp/slung-latency-XXXXXX)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
clang-14 --target=wasm32-wasi -O2 -std=c11 -nostartfiles -Wl,--no-entry -Wl,--strip-all \
    -I "$SDK" "$SDK/examples/alert_system.c" "$SDK"/src/*.c -o "$TMP/alert_system.wasm"
PORT=$((20000 + RANDOM % 40000))
"$BIN" serve --listen 127.0.0.1 --port "$PORT" --data-dir "$TMP/data" \
    --wasm "$TMP/alert_system.wasm" --log-level warn 2>"$TMP/server.log" &
PID=$!
up=0
for _ in $(seq 200); do
    if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then up=1; break; fi
    sleep 0.05
done
if [ $up -ne 1 ]; then
    echo "latency_e2e: server did not start on port $PORT:" >&2
    cat "$TMP/server.log" >&2
    exit 1
fi
node "$HERE/latency_e2e.js" "$PORT" "$RATE" "$SECS"

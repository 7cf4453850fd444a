#!/usr/bin/env bash
# serve.sh - install dependencies, build the release server, run it with its
# defaults (port 2077, data in ./slung-data). Extra arguments go to `slung serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSLUNG_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target slung
exec ./build/release/src/cli/slung serve "$@"

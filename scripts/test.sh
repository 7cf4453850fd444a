#!/usr/bin/env bash
# test.sh - install dependencies, build everything, run the whole test suite.
#   build/release  gcc -O2 -Werror: the server and the benchmarks (must compile clean)
#   build/test     clang-14 with ASan + UBSan, plus the libFuzzer targets; ctest runs
#                  every unit, integration, end-to-end and bounded fuzz test there.
# Tests that need ../shared (or $SLUNG_SHARED_DIR) skip with a one-line reason
# when it is absent. SLUNG_FUZZ_SECONDS (default 20) bounds each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ -f tests/node/package.json ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi
jobs=$(nproc)
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSLUNG_TESTS=OFF >/dev/null
cmake --build build/release -j"$jobs"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DSLUNG_SANITIZE=ON -DSLUNG_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-14 -DSLUNG_FUZZ_SECONDS="${SLUNG_FUZZ_SECONDS:-20}" >/dev/null
cmake --build build/test -j"$jobs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir build/test --output-on-failure -j"$jobs" "$@"

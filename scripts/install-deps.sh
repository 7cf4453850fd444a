#!/usr/bin/env bash
# install-deps.sh - every Debian package the build, tests and benchmarks need.
# Idempotent and non-interactive; safe to run on a bare Debian 12 machine as root
# (or with sudo available). Node packages for the tests are installed by the tests'
# own package.json (tests/node), from the npm registry.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  clang-14 lld-14 libclang-rt-14-dev llvm-14
  libuv1-dev libhttp-parser-dev libwslay-dev libssl-dev libcurl4-openssl-dev
  wabt binaryen
  python3 python3-websocket
  curl
  rustc cargo libstd-rust-dev-wasm32
  wasi-libc libclang-rt-14-dev-wasm32 clang-16 lld-16 clang-19 lld-19
  librust-serde-dev librust-serde-json-dev librust-serde-derive-dev
  nodejs npm
  redis-server
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node may come from outside Debian (nodesource, nvm): accept any node >= 18 on PATH.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
todo=()
for p in "${missing[@]}"; do [ -n "$p" ] && todo+=("$p"); done
if [ ${#todo[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${todo[@]}"
fi
echo "install-deps: all packages present"

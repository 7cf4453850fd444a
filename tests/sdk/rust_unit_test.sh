#!/usr/bin/env bash
# rust_unit_test.sh TARGETDIR - the Rust SDK's own unit tests (event JSON parsing),
# run natively with Debian's cargo, offline.
set -euo pipefail
SRC=${SLUNG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export CARGO_TARGET_DIR=$1
cd "$SRC/sdk/rust"
RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo test --offline --quiet -p slung --lib

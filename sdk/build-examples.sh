#!/usr/bin/env bash
# build-examples.sh OUTDIR - builds every SDK example into OUTDIR/<name>.wasm, offline.
#
#   Rust (sdk/rust/examples/<crate>/)  -> OUTDIR/<crate>.wasm    (wasm32-wasi cdylib)
#   C    (sdk/c/examples/<name>.c)     -> OUTDIR/c_<name>.wasm   (clang-14, wasm32-wasi)
#
# Only Debian's toolchain is used: /usr/bin/rustc + /usr/bin/cargo with the packaged
# crates of /usr/share/cargo/registry (sdk/rust/.cargo/config.toml), clang-14 with the
# wasi-libc package. A rustup toolchain earlier on PATH is ignored on purpose.
#
# Environment:
#   CARGO_TARGET_DIR        cargo's build directory (default OUTDIR/.cargo-target)
#   SLUNG_EXAMPLE_BASE_URL  base URL compiled into the Rust e2e_* examples (default
#                           http://127.0.0.1:8080; a WASI environment variable of the
#                           same name overrides it at run time) and into the C
#                           examples that POST (default https://api.example.com)
#   SLUNG_RUSTC, SLUNG_CARGO, SLUNG_CLANG  override the tools
#
# Idempotent: reruns rebuild only what changed; outputs are replaced atomically.
# Fails loudly: any compiler error, missing tool or missing output exits non-zero.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
SDK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUSTC_BIN=${SLUNG_RUSTC:-/usr/bin/rustc}
CARGO_BIN=${SLUNG_CARGO:-/usr/bin/cargo}
CLANG_BIN=${SLUNG_CLANG:-clang-14}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$OUTDIR/.cargo-target}

die() {
    echo "build-examples: $*" >&2
    exit 1
}

for tool in "$RUSTC_BIN" "$CARGO_BIN" "$CLANG_BIN"; do
    command -v "$tool" >/dev/null || die "missing tool $tool (run scripts/install-deps.sh)"
done

# Copies $1 to $2 through a temporary name so readers never see a partial module.
install_wasm() {
    [ -s "$1" ] || die "expected output $1 is missing"
    cp "$1" "$2.tmp.$$"
    mv -f "$2.tmp.$$" "$2"
}

# ---- Rust ----
(
    cd "$SDK/rust"
    RUSTC="$RUSTC_BIN" "$CARGO_BIN" build --release --offline --quiet \
        --target wasm32-wasi --workspace
) || die "cargo build failed"
for dir in "$SDK"/rust/examples/*/; do
    name=$(basename "$dir")
    install_wasm "$CARGO_TARGET_DIR/wasm32-wasi/release/$name.wasm" "$OUTDIR/$name.wasm"
done

# ---- C ----
if [ -d "$SDK/c/examples" ]; then
    cdefs=()
    if [ -n "${SLUNG_EXAMPLE_BASE_URL:-}" ]; then
        cdefs+=("-DSLUNG_EXAMPLE_BASE_URL=\"$SLUNG_EXAMPLE_BASE_URL\"")
    fi
    for src in "$SDK"/c/examples/*.c; do
        name=c_$(basename "$src" .c)
        "$CLANG_BIN" --target=wasm32-wasi -O2 -std=c11 -Wall -Wextra -Werror \
            -nostartfiles -Wl,--no-entry -Wl,--strip-all \
            "${cdefs[@]}" -I "$SDK/c" "$src" "$SDK"/c/src/*.c -o "$OUTDIR/$name.wasm.tmp.$$" ||
            die "clang failed on $src"
        mv -f "$OUTDIR/$name.wasm.tmp.$$" "$OUTDIR/$name.wasm"
    done
fi

echo "build-examples: modules in $OUTDIR"

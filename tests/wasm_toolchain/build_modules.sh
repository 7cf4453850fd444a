#!/usr/bin/env bash
# build_modules.sh OUTDIR - builds the toolchain test modules from the sources here
# with the real toolchains of scripts/install-deps.sh:
#   c_clang14_O0.wasm c_clang14_O2.wasm    kernels.c, clang-14, MVP (+mutable globals)
#   c_clang16_O2.wasm                      clang-16 defaults
#   c_clang16_features.wasm                clang-16 -mbulk-memory -msign-ext
#                                          -mnontrapping-fptoint -mreference-types
#                                          (memory.copy/fill, trunc_sat, padded LEB128
#                                          call_indirect table immediates)
#   c_clang19_O2.wasm                      clang-19 defaults (reference types and
#                                          multi-value on by default, target_features)
#   c_sdk_fmt.wasm                         sdk_fmt_kernel.c + sdk/c/src/fmt.c, clang-14
#                                          wasm32-wasi with wasi-libc and compiler-rt
#   rust_unknown.wasm rust_wasi.wasm       rust_kernels.rs, Debian rustc 1.63 (its lld
#                                          pads call_indirect type immediates to 5 bytes)
#   librust_native.so                      rust_kernels.rs for the host (the reference)
# Fails loudly if a tool is missing: the test cannot be meaningful without them.
set -euo pipefail
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$OUT"
RUSTC=/usr/bin/rustc   # Debian's, even if a rustup toolchain is earlier on PATH

cflags=(-O2 -std=c11 -Wall -Wextra -Werror -I "$HERE")
build_c() { # compiler out flags...
    local cc=$1 out=$2
    shift 2
    "$cc" --target=wasm32 "$@" -c -fno-builtin -o "$OUT/$out.rt.o" "$HERE/wasm_rt.c"
    "$cc" --target=wasm32 "$@" -nostdlib -Wl,--no-entry -o "$OUT/$out.tmp" "$HERE/kernels.c" \
        "$OUT/$out.rt.o"
    mv -f "$OUT/$out.tmp" "$OUT/$out"
    rm -f "$OUT/$out.rt.o"
}
build_c clang-14 c_clang14_O0.wasm "${cflags[@]}" -O0
build_c clang-14 c_clang14_O2.wasm "${cflags[@]}"
build_c clang-16 c_clang16_O2.wasm "${cflags[@]}"
build_c clang-19 c_clang19_O2.wasm "${cflags[@]}"
build_c clang-16 c_clang16_features.wasm "${cflags[@]}" -mbulk-memory -msign-ext \
    -mnontrapping-fptoint -mreference-types

SDK_C=$(cd "$HERE/../../sdk/c" && pwd)
clang-14 --target=wasm32-wasi -O2 -std=c11 -Wall -Wextra -Werror -nostartfiles -Wl,--no-entry \
    -I "$HERE" -I "$SDK_C" -o "$OUT/c_sdk_fmt.wasm.tmp" "$HERE/sdk_fmt_kernel.c" "$SDK_C/src/fmt.c"
mv -f "$OUT/c_sdk_fmt.wasm.tmp" "$OUT/c_sdk_fmt.wasm"

rflags=(--edition 2021 -O --crate-type cdylib -C panic=abort -C debuginfo=0 -C strip=debuginfo)
"$RUSTC" "${rflags[@]}" --target wasm32-unknown-unknown -o "$OUT/rust_unknown.wasm" \
    "$HERE/rust_kernels.rs"
"$RUSTC" "${rflags[@]}" --target wasm32-wasi -o "$OUT/rust_wasi.wasm" "$HERE/rust_kernels.rs"
"$RUSTC" --edition 2021 -O --crate-type cdylib -C debuginfo=0 -C strip=debuginfo -o "$OUT/librust_native.so" \
    "$HERE/rust_kernels.rs"
echo "build_modules: done in $OUT"

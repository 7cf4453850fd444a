#!/usr/bin/env bash
# examples_test.sh OUTDIR - every SDK example builds offline with sdk/build-examples.sh
# and keeps the guest contract (check_module.py): only imports the host provides,
# exports memory/allocate/deallocate/call with the spec's types.
set -euo pipefail
OUTDIR=$1
SRC=${SLUNG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export CARGO_TARGET_DIR=$OUTDIR/cargo-target

"$SRC/sdk/build-examples.sh" "$OUTDIR"

expected=()
for d in "$SRC"/sdk/rust/examples/*/; do expected+=("$OUTDIR/$(basename "$d").wasm"); done
for c in "$SRC"/sdk/c/examples/*.c; do expected+=("$OUTDIR/c_$(basename "$c" .c).wasm"); done
[ ${#expected[@]} -ge 16 ] || { echo "only ${#expected[@]} examples found"; exit 1; }
for f in "${expected[@]}"; do
    [ -s "$f" ] || { echo "missing module $f"; exit 1; }
done
python3 "$SRC/tests/sdk/check_module.py" "${expected[@]}"

# A second run changes nothing and still succeeds (idempotent).
before=$(sha256sum "${expected[@]}")
"$SRC/sdk/build-examples.sh" "$OUTDIR" >/dev/null
after=$(sha256sum "${expected[@]}")
[ "$before" = "$after" ] || { echo "a rebuild produced different modules"; exit 1; }
echo "examples_test: ${#expected[@]} modules ok"

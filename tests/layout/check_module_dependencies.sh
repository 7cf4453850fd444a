#!/usr/bin/env bash
# check_module_dependencies.sh - the module map of docs/ARCHITECTURE.md, enforced.
# Each src/<module> may include headers only from the modules listed for it here;
# anything else is a new dependency edge (maybe a cycle) and fails the test with
# the offending file and line. Change the table and the docs together.
set -u
src="${1:?usage: $0 SRC_DIR}"
declare -A allowed=(
  [base]=""
  [wasm]="base"
  [storage]="base"
  [query]="base storage"
  [net]="base"
  [ingest]="base storage"
  [workflow]="base wasm query ingest storage"
  [server]="base net ingest storage query workflow wasm"
  [cli]="base server net ingest storage query workflow wasm"
)
bad=0
for dir in "$src"/*/; do
  m=$(basename "$dir")
  if [ -z "${allowed[$m]+x}" ]; then
    echo "src/$m: a module missing from the dependency table (tests/layout/$(basename "$0"))"
    bad=1
    continue
  fi
  while IFS=: read -r file line inc; do
    dep=$(printf '%s' "$inc" | sed -E 's/.*#include "([a-z_]+)\/.*/\1/')
    [ "$dep" = "$m" ] && continue
    case " ${allowed[$m]} " in
      *" $dep "*) ;;
      *) echo "${file#"$src"/}:$line: $m must not include $dep ($inc)"; bad=1 ;;
    esac
  done < <(grep -nE '^#include "[a-z_]+/' "$dir"*.[ch] /dev/null 2>/dev/null)
done
if [ "$bad" = 0 ]; then echo "module dependencies follow docs/ARCHITECTURE.md"; fi
exit "$bad"

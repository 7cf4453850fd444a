#!/usr/bin/env python3
"""check_module.py WASM... - checks that each workflow module keeps the guest contract
of shared/spec/workflows.md, from `wasm-objdump -x` (wabt):
  * every import is a host function of module `env` or one of the WASI functions the
    host provides, with exactly the wasm type of the spec;
  * the exports include memory, allocate (i32)->i32, deallocate (i32)->nil and
    call ()->i32 (or, for a WASI command, _start ()->nil instead of call).
Prints one line per problem and exits 1 if there is any."""
import re
import subprocess
import sys

ALLOWED = {
    "env.u_query_live": "(i32) -> i64",
    "env.u_query_history": "(i32) -> f64",
    "env.u_poll_handle": "(i64) -> i32",
    "env.u_free_handle": "(i64) -> i32",
    "env.u_write_event": "(i32, i32, i32) -> i32",
    "env.u_writeback_ws": "(i64, i32) -> i32",
    "env.u_writeback_http": "(i32, i32, i32) -> i32",
    "wasi_snapshot_preview1.fd_write": "(i32, i32, i32, i32) -> i32",
    "wasi_snapshot_preview1.environ_get": "(i32, i32) -> i32",
    "wasi_snapshot_preview1.environ_sizes_get": "(i32, i32) -> i32",
    "wasi_snapshot_preview1.args_get": "(i32, i32) -> i32",
    "wasi_snapshot_preview1.args_sizes_get": "(i32, i32) -> i32",
    "wasi_snapshot_preview1.clock_time_get": "(i32, i64, i32) -> i32",
    "wasi_snapshot_preview1.random_get": "(i32, i32) -> i32",
    "wasi_snapshot_preview1.proc_exit": "(i32) -> nil",
}
EXPORTS = {"allocate": "(i32) -> i32", "deallocate": "(i32) -> nil", "call": "() -> i32"}


def check(path):
    out = subprocess.run(["wasm-objdump", "-x", path], check=True, capture_output=True,
                         text=True).stdout
    types, func_sig, problems = {}, {}, []
    imports, exports, section = [], {}, None
    for line in out.splitlines():
        m = re.match(r"^(\w+)\[\d+\]:", line)
        if m:
            section = m.group(1)
            continue
        if section == "Type":
            m = re.match(r"^ - type\[(\d+)\] (.*)$", line)
            if m:
                types[int(m.group(1))] = m.group(2).strip()
        elif section == "Import":
            m = re.match(r"^ - (\w+)\[(\d+)\](?: sig=(\d+))?.* <- (\S+)$", line)
            if m:
                kind, idx, sig, name = m.groups()
                if kind == "func":
                    func_sig[int(idx)] = int(sig)
                imports.append((kind, name, sig))
        elif section == "Function":
            m = re.match(r"^ - func\[(\d+)\] sig=(\d+)", line)
            if m:
                func_sig[int(m.group(1))] = int(m.group(2))
        elif section == "Export":
            m = re.match(r'^ - (\w+)\[(\d+)\].* -> "(.*)"$', line)
            if m:
                exports[m.group(3)] = (m.group(1), int(m.group(2)))
    for kind, name, sig in imports:
        if kind != "func" or name not in ALLOWED:
            problems.append(f"{path}: import {kind} {name} is not provided by the host")
        elif types.get(int(sig)) != ALLOWED[name]:
            problems.append(f"{path}: import {name} has type {types.get(int(sig))}, "
                            f"the host provides {ALLOWED[name]}")
    if exports.get("memory", ("", 0))[0] != "memory":
        problems.append(f"{path}: no memory export named 'memory'")
    wanted = dict(EXPORTS)
    if "call" not in exports and "_start" in exports:
        del wanted["call"]
        wanted["_start"] = "() -> nil"
    for name, want in wanted.items():
        kind, idx = exports.get(name, ("", 0))
        if kind != "func":
            problems.append(f"{path}: no function export '{name}'")
        elif types.get(func_sig.get(idx, -1)) != want:
            problems.append(f"{path}: export {name} has type "
                            f"{types.get(func_sig.get(idx, -1))}, expected {want}")
    return problems


def main():
    problems = []
    for path in sys.argv[1:]:
        problems += check(path)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""diff_test.py RUNNER WORKDIR - differential test of src/wasm against node's V8.

For each case, binaryen's translate-to-fuzz (`wasm-opt -ttf`) turns seeded random bytes
into a valid module using the features the engine supports (MVP + sign extension,
non-trapping float-to-int, bulk memory, mutable globals, multi-value); every other case
also runs binaryen's --fuzz-passes (a random optimisation pipeline chosen from the
input) for code shapes optimisers produce. (Binaryen 108's reference-types output uses
typed function references that neither engine accepts, so that feature stays off.)
The module runs
in our engine (RUNNER = wasm_diff_runner) and in V8 (run_v8.js); both print a trace of
every exported function's results, traps and fuzzing-support.log-* calls, which must be
identical. Two differences are allowed by the spec and counted as inconclusive, not
failures: a call that exhausts the stack on either side (the engines' depth limits
differ by design; the comparison of that module stops there), and NaN bit patterns
(the sign and payload of a NaN result are nondeterministic, and they become visible
once stored to memory or reinterpreted). A mismatching module is rerun after
binaryen's --denan pass (which turns every NaN a float operation produces into 0); if
the two engines then agree, the difference is classified as NaN bits. Mismatching
modules are kept in WORKDIR for reproduction.

Environment: SLUNG_WASM_DIFF_CASES (default 100), SLUNG_WASM_DIFF_SEED (default 1;
each case's seed is printed so one case can be rerun with SLUNG_WASM_DIFF_CASES=1 and
SLUNG_WASM_DIFF_FIRST=<case>).
"""
import os
import random
import shutil
import subprocess
import sys

FEATURES = ["--mvp-features", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
            "--enable-bulk-memory", "--enable-mutable-globals", "--enable-multivalue"]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, timeout=120):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr.strip()[:500]}")
    return p.stdout.splitlines()


def compare(ours, v8):
    """Returns (status, detail): status is 'same', 'inconclusive' or 'mismatch'."""
    for i in range(max(len(ours), len(v8))):
        a = ours[i] if i < len(ours) else "<end>"
        b = v8[i] if i < len(v8) else "<end>"
        if a == b:
            continue
        if a == "trap stack" or b == "trap stack":
            return "inconclusive", f"line {i + 1}: stack exhausted on one side"
        context = "\n".join(ours[max(0, i - 3):i])
        return "mismatch", f"line {i + 1}: ours {a!r}, v8 {b!r}\n  after:\n{context}"
    return "same", ""


def main():
    runner, work = sys.argv[1], sys.argv[2]
    cases = int(os.environ.get("SLUNG_WASM_DIFF_CASES", "100"))
    base = int(os.environ.get("SLUNG_WASM_DIFF_SEED", "1"))
    first = int(os.environ.get("SLUNG_WASM_DIFF_FIRST", "0"))
    os.makedirs(work, exist_ok=True)
    counts = {"same": 0, "inconclusive": 0, "mismatch": 0}
    calls = 0
    traps = 0
    instantiated = 0
    for case in range(first, first + cases):
        seed = base * 1000003 + case
        rnd = random.Random(seed)
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(512, 16384)))
        src = os.path.join(work, "input.bin")
        wasm = os.path.join(work, "case.wasm")
        with open(src, "wb") as f:
            f.write(data)
        passes = ["--fuzz-passes"] if case % 2 else []
        run(["wasm-opt", "-ttf", src, "-o", wasm] + passes + FEATURES)
        ours = run([runner, wasm])
        v8 = run(["node", os.path.join(HERE, "run_v8.js"), wasm])
        status, detail = compare(ours, v8)
        if status == "mismatch":
            denan = os.path.join(work, "case_denan.wasm")
            run(["wasm-opt", wasm, "--denan", "-o", denan] + FEATURES)
            status2, detail2 = compare(run([runner, denan]),
                                       run(["node", os.path.join(HERE, "run_v8.js"), denan]))
            if status2 != "mismatch":
                status, detail = "inconclusive", "differs only in NaN bits (--denan agrees)"
        counts[status] += 1
        instantiated += ours[:1] == ["instantiate ok"]
        calls += sum(1 for line in ours if line.startswith("call "))
        traps += sum(1 for line in ours if line.startswith("trap "))
        if status == "mismatch":
            keep = os.path.join(work, f"mismatch-seed{base}-case{case}.wasm")
            shutil.copyfile(wasm, keep)
            print(f"case {case} (seed {seed}): MISMATCH {detail}\n  module kept: {keep}")
        elif status == "inconclusive":
            print(f"case {case} (seed {seed}): inconclusive, {detail}")
    print(f"wasm_diff: {cases} modules, {calls} export calls ({traps} trapped): "
          f"{counts['same']} identical, {counts['inconclusive']} inconclusive, "
          f"{counts['mismatch']} mismatching")
    if instantiated < cases / 2:
        # Both sides refusing every module (say, a binaryen that imports something new)
        # would "agree" while testing nothing.
        print(f"wasm_diff: only {instantiated} of {cases} modules instantiated: the test "
              "is not exercising the engine")
        return 1
    return 1 if counts["mismatch"] else 0


if __name__ == "__main__":
    sys.exit(main())

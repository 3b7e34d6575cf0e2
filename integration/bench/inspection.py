#!/usr/bin/env python3
"""Instructions per byte of the request inspection, from callgrind (issue 9).

Runs the native v8-bench (`target/v8-bench/release/v8-bench profile OP N`) under
`valgrind --tool=callgrind` for the ordinary 4 KB and 400 KB chat requests and for hostile
bodies (one trigger repeated, nested arrays, a million one-character strings) at two or more
sizes, subtracts the setup (the same command with N = 0) and reports instructions per
operation and per byte. Instruction counts do not depend on the machine's noise, so the
before/after comparison holds whatever else runs on the machine.

    integration/bench/inspection.py                      # the default set, JSON on stdout
    integration/bench/inspection.py --out FILE.json      # also written to FILE.json
    integration/bench/inspection.py --ops inspect_4k:200 hostile_sk_40k:1

scripts/bench builds the v8-bench; this script only runs it. Self-contained: the rest of the
bench harness (run.py, report.py) does not import it.
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
NATIVE = ROOT / "target/v8-bench/release/v8-bench"

# op -> iterations. Hostile inputs at sizes that finish under callgrind with the engine before
# issue 9 (whose cost grew with the square of the run), then the 4 MiB bodies the issue names.
DEFAULT_OPS = [
    ("inspect_4k", 200), ("inspect_40k", 20), ("inspect_400k", 3),
    ("hostile_xoxb_10k", 1), ("hostile_xoxb_20k", 1), ("hostile_xoxb_40k", 1),
    ("hostile_aiza_10k", 1), ("hostile_aiza_20k", 1), ("hostile_aiza_40k", 1),
    ("hostile_sk_10k", 1), ("hostile_sk_20k", 1), ("hostile_sk_40k", 1),
    ("hostile_eyjdash_10k", 1), ("hostile_eyjdash_20k", 1), ("hostile_eyjdash_40k", 1),
    ("hostile_eyj_400k", 1), ("hostile_digits_400k", 1), ("hostile_at_400k", 1), ("hostile_dot_400k", 1),
    ("hostile_dash_400k", 1), ("hostile_onechar_400k", 1), ("hostile_strings_400k", 1),
    ("hostile_nested_400k", 1),
]


def body_bytes(op: str) -> int:
    m = re.search(r"_(\d+)([km])$", op)
    if not m:
        return 0
    n = int(m.group(1))
    return n * 1024 if m.group(2) == "k" else n << 20


def collected(op: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/cg.out", str(NATIVE),
                              "profile", op, str(n)], capture_output=True, text=True, timeout=3600)
    m = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if out.returncode != 0 or not m:
        raise SystemExit(f"inspection.py: callgrind failed for {op} {n}:\n{out.stderr[-2000:]}")
    return int(m.group(1))


def measure(op: str, n: int) -> dict:
    t = time.monotonic()
    total = collected(op, n)
    setup = collected(op, 0)
    per_op = (total - setup) // max(1, n)
    size = body_bytes(op)
    # inspect_* bodies are exactly their nominal size too (v8-bench chat_body pads to it).
    r = {"instructions": per_op, "iterations": n, "bytes": size,
         "instructions_per_byte": round(per_op / size, 2) if size else None,
         "seconds_under_callgrind": round(time.monotonic() - t, 1)}
    print(f"  {op}: {per_op:,} instructions, {r['instructions_per_byte']} per byte", file=sys.stderr, flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path)
    ap.add_argument("--ops", nargs="*", help="OP:N pairs (default: the standard set)")
    ap.add_argument("--label", default="", help="what was measured (e.g. the commit), stored in the JSON")
    a = ap.parse_args()
    if not NATIVE.exists():
        raise SystemExit(f"inspection.py: {NATIVE} is missing: build it with "
                         "(cd integration/bench/v8-bench && cargo build --release --locked)")
    ops = [(o.split(":")[0], int(o.split(":")[1])) for o in a.ops] if a.ops else DEFAULT_OPS
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    res = {"label": a.label, "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "ops": {}}
    for op, n in ops:
        res["ops"][op] = measure(op, n)
    text = json.dumps(res, indent=1) + "\n"
    if a.out:
        a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

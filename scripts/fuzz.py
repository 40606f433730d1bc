"""The long fuzz run: every target of tests/reliability/test_fuzz.py on fresh random cases, for longer than
``make test`` gives them (there: a fixed, derandomized few hundred each).

    OMP_NUM_THREADS=1 .venv/bin/python -m scripts.fuzz --minutes 10

The minutes are shared out evenly over the targets (schemathesis against the model service's /openapi.json
included). Prints the cases run per target; every failing input is written under --findings (with its
traceback beside it, ``.error``) in the form tests/reliability/fuzz_cases/ replays: move it there, fix the
cause, and the regression test replays it from then on. Exits 1 when this run found anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/reliability/test_fuzz.py"
TARGETS = 11  # the fuzz(...) targets test_fuzz.py runs in a timed run (the replay and the self-check are not)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="all targets together (default 10)")
    parser.add_argument("--findings", type=Path, default=ROOT / "runs" / "fuzz-findings",
                        help="where failing inputs are written (default runs/fuzz-findings, not tracked)")
    parser.add_argument("-k", default="", help="only the targets pytest's -k expression selects")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        counts = Path(scratch) / "counts.json"
        env = {**os.environ, "FUZZ_SECONDS": str(args.minutes * 60 / TARGETS), "FUZZ_COUNTS": str(counts),
               "FUZZ_FINDINGS": str(args.findings), "PYTHONPATH": str(ROOT)}
        select = "not once_failed and not signature" + (f" and ({args.k})" if args.k else "")
        command = [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "-k", select,
                   "-o", "timeout=0"]
        returncode = subprocess.call(command, cwd=ROOT, env=env)
        cases = json.loads(counts.read_text()) if counts.exists() else {}
    width = max(map(len, cases), default=6)
    print(f"\n{'target':<{width}}  cases")
    for target, count in cases.items():
        print(f"{target:<{width}}  {count:>6}")
    print(f"{'total':<{width}}  {sum(cases.values()):>6}")
    found = sorted(p.name for p in args.findings.glob("*") if p.suffix != ".error") if args.findings.exists() else []
    print(f"findings ({len(found)}) in {args.findings}: {', '.join(found) or 'none'}")
    return 1 if returncode else 0


if __name__ == "__main__":
    sys.exit(main())

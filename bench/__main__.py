"""Run every benchmark in bench/ and write its figures to bench/results/<name>.json.

Convention: a module ``bench/bench_<name>.py`` defines ``run(quick: bool = False) -> dict``. It
prints its figures as it goes and returns them; this runner stores them. ``--quick`` runs smaller
sizes (for a smoke check), ``--only NAME`` runs one benchmark.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke check")
    parser.add_argument("--only", action="append", default=[], help="run only this benchmark (repeatable)")
    args = parser.parse_args(argv)
    names = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(names)}", file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    RESULTS.mkdir(exist_ok=True)
    failed = 0
    for name in names:
        print(f"== bench {name}", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.perf_counter()
        try:
            figures = module.run(quick=args.quick)
        except Exception as exc:  # a failing benchmark must not hide the others
            print(f"!! bench {name} failed: {exc!r}", file=sys.stderr)
            failed += 1
            continue
        record = {
            "benchmark": name,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "machine": {"python": platform.python_version(), "cpus": _cpus()},
            "seconds": round(time.perf_counter() - started, 2),
            "figures": figures,
        }
        out = RESULTS / f"{name}.json"
        out.write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"   -> {out}", flush=True)
    return 1 if failed else 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


if __name__ == "__main__":
    sys.exit(main())

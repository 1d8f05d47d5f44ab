"""`make bench`: run every benchmark; each prints its figures and writes bench/results/.

Arguments are passed to every benchmark, so only the ones they share make sense here:
--evaluations N and --fresh (each bench drops and regenerates its own database). For a
bench's own options (e.g. api_bench.py --seconds), run that bench directly.

Two are run.py's own: --scale SIZE is the scale bench's size (1m by default; `make bench
SCALE=10m` measures 10 million evaluations, which takes about an hour the first time, to
generate the data), and --only NAME runs one bench (`--only scale`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The scoring bench first: the API bench's data generator is the scoring bench's.
BENCHMARKS = [
    "scoring_bench.py",
    "api_bench.py",
    "load_bench.py",
    "freshness_bench.py",
    "scale_bench.py",
    "feedback_bench.py",
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="1m", help="the scale bench's size: 1m, 10m, ...")
    parser.add_argument(
        "--only",
        choices=[name.removesuffix("_bench.py") for name in BENCHMARKS],
        help="run this bench alone",
    )
    ours, shared = parser.parse_known_args()
    failed = 0
    for name in BENCHMARKS:
        if ours.only and name != f"{ours.only}_bench.py":
            continue
        if name == "scale_bench.py":
            # Sized by --scale, not --evaluations: each size keeps its own database.
            args = ["--size", ours.scale, *(["--fresh"] if "--fresh" in shared else [])]
        else:
            args = shared
        print(f"\n=== {name} {' '.join(args)} ===", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name), *args])
    sys.exit(failed)

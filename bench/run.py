"""`make bench`: run every benchmark; each prints its figures and writes bench/results/.

Arguments are passed to every benchmark, so only the ones they share make sense here:
--evaluations N and --fresh (each bench drops and regenerates its own database). For a
bench's own options (e.g. api_bench.py --seconds), run that bench directly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The scoring bench first: the API bench's data generator is the scoring bench's.
BENCHMARKS = ["scoring_bench.py", "api_bench.py", "load_bench.py"]

if __name__ == "__main__":
    failed = 0
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]])
    sys.exit(failed)

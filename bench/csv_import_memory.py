"""Peak memory of reading and grouping a 100,000-row evaluations CSV (issue 12, item 5).

Run: DEBUG=true .venv/bin/python bench/csv_import_memory.py [ROWS]
Writes a CSV of ROWS rows (one answer per row, 5 rows per evaluation) to a temporary
file, then reads it as `manage.py import_evaluations` does (a stream) and groups the
rows into evaluations, without touching the database, and prints the Python heap's peak
(tracemalloc) and the process's peak RSS.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
django.setup()

from touchpoints import csv_import  # noqa: E402  (after django.setup)


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("key,touch_point,source,observed_at,site,comment,criterion,value\r\n")
        for i in range(rows):
            key = i // 5
            out.write(
                f"ev-{key},12,audit,2026-03-02T10:00:00Z,,Friendly and quick {key},"
                f"{100 + i % 5},{1 + i % 5}\r\n"
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "evaluations.csv"
        write_file(path, rows)
        size = path.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        started = time.perf_counter()
        with path.open("rb") as stream:
            evaluations, errors = csv_import._group(csv_import.read_rows(stream))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"rows={rows} file={size / 1e6:.1f} MB evaluations={len(evaluations)} "
        f"errors={len(errors)} heap_peak={peak / 1e6:.1f} MB "
        f"rss_peak={rss_after / 1e3:.0f} MB (before reading {rss_before / 1e3:.0f} MB) "
        f"seconds={elapsed:.1f}"
    )


if __name__ == "__main__":
    main()

"""The scoring method: pure formulas, their SQL twin, snapshots, and the Celery recompute."""

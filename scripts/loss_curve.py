"""A training run's loss curve: the mean of the logged values in windows of steps.

    python scripts/loss_curve.py RUN_DIR [--key train/loss] [--window 500]

Reads every ``RUN_DIR/logs/csv/version_*/metrics.csv`` (a resumed run writes one version
per start; a step logged twice keeps its last value) and prints one line per window:
first step, last step, number of logged values, mean. Logged values are single steps
(every ``train.log_every``-th), so a window's mean is what to compare, not one value.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path


def logged(run: Path, key: str) -> dict[int, float]:
    values: dict[int, float] = {}
    for path in sorted((run / "logs" / "csv").glob("version_*/metrics.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get(key):
                    values[int(row["step"])] = float(row[key])
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--key", default="train/loss")
    parser.add_argument("--window", type=int, default=500)
    args = parser.parse_args()
    values = logged(args.run, args.key)
    if not values:
        raise SystemExit(f"{args.run}: no logged {args.key!r}")
    windows: dict[int, list[tuple[int, float]]] = {}
    for step, value in sorted(values.items()):
        windows.setdefault(step // args.window, []).append((step, value))
    for items in windows.values():
        steps = [s for s, _ in items]
        mean = statistics.mean(v for _, v in items)
        print(f"{min(steps):>7} {max(steps):>7} {len(items):>4} {mean:.4f}")


if __name__ == "__main__":
    main()

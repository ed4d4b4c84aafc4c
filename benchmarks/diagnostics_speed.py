"""Speed of the diagnostics engine (reported, not asserted).

1. Live: all seven rules in one `Monitor`, observations per second on one core
   (pure Python), over a realistic stream: warmup, a healthy noisy loss, LR of one
   group given every step. Target: >= 250,000 observations/s.
2. Offline: `diagnose` of a 1,000,000-step CSV (step,loss,lr,val_loss), parsing
   included. Target: <= 10 s.

Usage (from the repository root)::

    .venv/bin/python benchmarks/diagnostics_speed.py [--steps 200000] [--csv-steps 1000000]

The live figure is the best of 7 passes (as `timeit` reports), by CPU time
(`time.process_time`), with wall time beside it: on a shared machine the wall clock
also counts other processes.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import tempfile
import time

from lr_callbacks.diagnose import diagnose
from lr_callbacks.diagnostics import Monitor


def stream(n: int, seed: int = 0) -> tuple[list[float], list[list[float]]]:
    rng = random.Random(seed)
    losses = [2.3 * (1 + t / 10) ** -0.1 * math.exp(rng.gauss(0, 0.1)) for t in range(n)]
    lrs = [[1e-3 * min(1.0, (t + 1) / 1000)] for t in range(n)]
    return losses, lrs


def live(n: int, repeats: int = 7) -> tuple[float, float, int]:
    """Best of `repeats`: (observations/s by CPU time, by wall time, alerts)."""
    losses, lrs = stream(n)
    best_cpu = best_wall = math.inf
    alerts = 0
    for _ in range(repeats):
        monitor = Monitor()
        observe = monitor.observe
        cpu, wall = time.process_time(), time.perf_counter()
        for step in range(n):
            observe(step, losses[step], lrs[step])
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
        alerts = len(monitor.alerts)
    return n / best_cpu, n / best_wall, alerts


def offline(n: int) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, alerts) for `diagnose` of an n-step CSV."""
    losses, lrs = stream(n, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.csv")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("step,loss,lr,val_loss\n")
            for step in range(n):
                val = "1.5" if step % 1000 == 999 else ""
                handle.write(f"{step},{losses[step]!r},{lrs[step][0]!r},{val}\n")
        cpu, wall = time.process_time(), time.perf_counter()
        result = diagnose(path)
        return time.process_time() - cpu, time.perf_counter() - wall, len(result.alerts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--csv-steps", type=int, default=1_000_000)
    args = parser.parse_args()
    logging.getLogger("lr_callbacks.alerts").disabled = True
    cpu_rate, wall_rate, alerts = live(args.steps)
    print(
        f"live: {cpu_rate:,.0f} observations/s ({1e6 / cpu_rate:.2f} us each, CPU time; "
        f"wall {wall_rate:,.0f}/s), 7 rules, {args.steps:,} steps, {alerts} alerts; "
        "target >= 250,000/s"
    )
    cpu_s, wall_s, found = offline(args.csv_steps)
    print(
        f"offline: diagnose of a {args.csv_steps:,}-step CSV in {cpu_s:.2f} s CPU "
        f"({wall_s:.2f} s wall), parsing included, {found} alerts; target <= 10 s"
    )


if __name__ == "__main__":
    main()

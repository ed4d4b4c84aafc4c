"""Speed of the schedule core: scalar calls and vectorised evaluation, for every built-in.

Targets (issue 2): a scalar call at most 2 microseconds; 10 million steps vectorised
under 0.5 s. The figures are reported, never asserted (speed is not a test).

Run: ``python benchmarks/schedule_speed.py`` (``--steps`` and ``--repeats`` to change
the vectorised size and the number of repeats). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import timeit

import numpy as np

from lr_callbacks.schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    HoldAfter,
    InverseSqrt,
    Linear,
    OneCycle,
    OneCycleMomentum,
    Piecewise,
    Polynomial,
    Schedule,
    Sequence,
    StepDecay,
    Sweep,
    Warmup,
    WarmupCosine,
    WarmupStableDecay,
    registry,
)

TOTAL = 100_000
SCALAR_TARGET_US = 2.0
VECTOR_TARGET_S = 0.5

CASES: list[tuple[str, Schedule]] = [
    ("constant", Constant(peak_lr=3e-4)),
    ("step_decay (milestones)", StepDecay(peak_lr=0.1, gamma=0.1, milestones=(30_000, 60_000, 90_000))),
    ("step_decay (step_size)", StepDecay(peak_lr=0.1, gamma=0.5, step_size=10_000)),
    ("cosine", Cosine(peak_lr=3e-4, min_lr_ratio=0.1)),
    ("cosine_restarts (100 cycles)", CosineRestarts(peak_lr=1e-3, cycle_steps=1000)),
    (
        "cosine_restarts (mult 2)",
        CosineRestarts(peak_lr=1e-3, cycle_steps=1000, cycle_mult=2, cycle_decay=0.8),
    ),
    ("warmup_cosine", WarmupCosine(peak_lr=3e-4, warmup=0.05, min_lr_ratio=0.1)),
    ("one_cycle", OneCycle(peak_lr=1e-3)),
    ("one_cycle (three-phase)", OneCycle(peak_lr=1e-3, anneal="linear", three_phase=True)),
    ("one_cycle_momentum", OneCycleMomentum(max_momentum=0.95)),
    ("wsd (1-sqrt)", WarmupStableDecay(peak_lr=1e-3, warmup=2000, decay=0.2, decay_shape="1-sqrt")),
    ("with_warmup (cosine)", Warmup(Cosine(peak_lr=1e-3), warmup=2000, start_ratio=0.01)),
    ("linear", Linear(peak_lr=1e-3)),
    ("polynomial", Polynomial(peak_lr=1e-3, power=2.0)),
    ("exponential", Exponential(peak_lr=1e-3, gamma=0.99995)),
    ("inverse_sqrt", InverseSqrt(peak_lr=1e-3, timescale=4000)),
    ("sweep", Sweep(start_lr=1e-7, end_lr=10.0)),
    ("sequence", Sequence((Constant(peak_lr=1e-3), Cosine(peak_lr=1e-3)), lengths=(0.1,))),
    ("piecewise", Piecewise(boundaries=(30_000, 60_000), values=(1e-3, 1e-4, 1e-5))),
    ("hold_after", HoldAfter(CosineRestarts(peak_lr=1e-3, cycle_steps=1000), steps=50_000)),
]


def scalar_us(schedule, repeats: int, number: int = 20_000) -> float:
    """Best-of-``repeats`` microseconds per call, over steps spread across the run."""
    steps = [int(x) for x in np.linspace(0, TOTAL - 1, number)]

    def run() -> None:
        for t in steps:
            schedule(t)

    return min(timeit.repeat(run, number=1, repeat=repeats)) / number * 1e6


def vector_s(schedule, steps: int, repeats: int) -> float:
    """Best-of-``repeats`` seconds for ``values(np.arange(steps))`` (steps spread over the run)."""
    grid = np.arange(steps, dtype=np.float64) * (TOTAL / steps)
    return min(timeit.repeat(lambda: schedule.values(grid), number=1, repeat=repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000_000, help="vectorised size (default 10M)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats; the best is reported")
    args = parser.parse_args()
    missing = set(registry()) - {spec.name for _, spec in CASES}
    if missing:
        raise SystemExit(f"schedule_speed: no benchmark case for {sorted(missing)}; add one to CASES.")

    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, T={TOTAL}\n")
    print(
        f"| schedule | scalar µs/call (≤ {SCALAR_TARGET_US:g}) | {args.steps / 1e6:g}M vectorised s (< {VECTOR_TARGET_S:g}) |"
    )
    print("|---|---:|---:|")
    misses = []
    for label, spec in CASES:
        bound = spec.bind(TOTAL)
        us = scalar_us(bound, args.repeats)
        seconds = vector_s(bound, args.steps, max(1, args.repeats // 2))
        flag_s = "" if us <= SCALAR_TARGET_US else " ✗"
        flag_v = "" if seconds < VECTOR_TARGET_S else " ✗"
        print(f"| {label} | {us:.2f}{flag_s} | {seconds:.3f}{flag_v} |")
        if flag_s:
            misses.append(f"{label}: scalar {us:.2f} µs ({us / SCALAR_TARGET_US:.1f}x the target)")
        if flag_v:
            misses.append(
                f"{label}: vectorised {seconds:.3f} s ({seconds / VECTOR_TARGET_S:.1f}x the target)"
            )
    print("\nMisses: " + ("none" if not misses else "; ".join(misses)))


if __name__ == "__main__":
    main()

"""Figure of four representative benchmark runs with their labels and a detector's alerts.

Loss (log scale, with validation loss where recorded) and LR on twin axes; expected windows
shaded orange and clean windows light green; alerts marked as red triangles with the rule.

Usage (from the repository root)::

    .venv/bin/python benchmarks/detection/plot_runs.py [--detector monitor|baseline]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from score import HERE, Detector, load_labels, load_rows, monitor_detector, naive_baseline

RUNS = (
    "moderate_high_warmup_charlm",
    "bad_batches_charlm",
    "overfit_digits50",
    "clean_restarts_charlm",
)
OUT = HERE / "runs_figure.png"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", choices=("monitor", "baseline"), default="monitor")
    args = parser.parse_args(argv)
    detect: Detector = naive_baseline
    name = "naive baseline"
    if args.detector == "monitor":
        monitor = monitor_detector()
        if isinstance(monitor, str):
            print(f"note: {monitor}; marking the naive baseline's alerts instead")
        else:
            detect, name = monitor, "lr_callbacks Monitor"
    labels = load_labels()
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    for ax, run in zip(axes.flat, RUNS, strict=True):
        spec = labels[run]
        rows = load_rows(HERE / spec["file"])
        steps = [r[0] for r in rows]
        # Non-finite values cannot be drawn on a log axis: they are marked by the alert.
        loss = [r[1] if math.isfinite(r[1]) else math.nan for r in rows]
        ax.plot(steps, loss, lw=0.4, color="tab:blue", label="train loss (per update)")
        vals = [(r[0], r[3]) for r in rows if r[3] is not None]
        if vals:
            vs, vv = zip(*vals, strict=True)
            ax.plot(vs, vv, "o-", ms=3, lw=1.2, color="tab:purple", label="val loss")
        ax.set_yscale("log")
        for c in spec["clean"]:
            ax.axvspan(c[0], c[1] + 1, color="tab:green", alpha=0.08, lw=0)
        for e in spec["expected"]:
            ax.axvspan(e["start"], e["end"] + 1, color="tab:orange", alpha=0.3, lw=0)
        for ev in spec["events"]:
            ax.axvline(ev["step"], color="grey", lw=0.6, ls=":")
        ymin, ymax = ax.get_ylim()
        cap = 30 * rows[0][1]  # an explosion would squash the rest of the curve
        if ymax > cap:
            ymax = cap
            ax.text(0.01, 0.97, f"y clipped at {cap:.3g}", transform=ax.transAxes,
                    fontsize=8, va="top")  # fmt: skip
        alerts = detect(rows, spec["events"])
        for i, (rule, step) in enumerate(alerts):
            ax.plot([step], [ymax], "v", color="red", ms=8, clip_on=False)
            ax.annotate(f"{rule} @{step}", (step, ymax), xytext=(-4, -12 - 11 * (i % 6)),
                        textcoords="offset points", fontsize=8, color="red", ha="right")  # fmt: skip
        ax.set_ylim(ymin, ymax)
        expected = ", ".join(f"{e['rule']} [{e['start']}, {e['end']}]" for e in spec["expected"])
        ax.set_title(f"{run}\nexpected: {expected or 'nothing (clean)'}", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (log)")
        lr_ax = ax.twinx()
        lr_ax.plot(steps, [r[2] for r in rows], color="black", lw=1.0, ls="--", label="LR")
        lr_ax.set_ylabel("LR")
        lr_ax.set_ylim(0, 1.1 * max(r[2] for r in rows))
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2), useOffset=False)
        if run == RUNS[0]:
            handles = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
            ax.legend(handles=handles, loc="center left", fontsize=8)
    fig.suptitle(
        f"Benchmark runs: orange = expected alert window, green = clean window, "
        f"red triangles = alerts of the {name}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()

"""Pictures: a schedule's curve with its phases (and, later, runs with their alerts).

matplotlib is imported only inside the functions here (``pip install 'lr-callbacks[plot]'``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .schedules import BoundSchedule

_PHASE_COLOURS = ("#e8f1fb", "#fdf1e3", "#eaf6ea", "#f6e9f5", "#fbf8e1", "#e9f4f6")
_EVENT_COLOURS = {
    "decay": "#c0392b",
    "restart": "#8e44ad",
    "warmup_end": "#2e86c1",
    "decay_start": "#d35400",
    "peak": "#27ae60",
}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError("Plotting needs matplotlib: pip install 'lr-callbacks[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_schedule(
    schedule: BoundSchedule, path: str | Path, *, log: bool = False, title: str | None = None
) -> Path:
    """Draw ``schedule`` over its run to ``path`` (PNG, SVG or PDF), phases shaded and labelled.

    Raises:
        ValueError: the schedule is not bound to a run length.
    """
    total = schedule.total_steps
    if total is None:
        raise ValueError(
            "plot_schedule: the schedule needs a run length; got total_steps=None. Bind it first."
        )
    import numpy as np

    plt = _pyplot()
    steps = np.arange(total)
    lrs = schedule.values(steps)
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=150)
    _shade_phases(ax, schedule, total)
    ax.plot(steps, lrs, color="#1f4e79", linewidth=2.2, label="learning rate", zorder=3)
    for event in schedule.events(0, total):
        ax.axvline(
            event.step, color=_EVENT_COLOURS.get(event.kind, "grey"), linestyle=":", linewidth=1, zorder=2
        )
    if not log:
        ax.set_ylim(0, float(lrs.max()) * 1.18)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    if log and float(lrs.min()) > 0:
        ax.set_yscale("log")
        ax.set_ylim(float(lrs.min()) / 1.5, float(lrs.max()) * 3)
    elif log:
        ax.set_yscale("symlog", linthresh=max(float(lrs[lrs > 0].min()) if (lrs > 0).any() else 1e-12, 1e-12))
    ax.set_xlim(0, max(total - 1, 1))
    ax.set_xlabel("optimizer update (step)")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3, zorder=1)
    ax.set_title(title or f"{schedule.spec}\nT = {total:,} steps", fontsize=10)
    _annotate_peak(ax, steps, lrs)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def _shade_phases(ax: Any, schedule: BoundSchedule, total: int) -> None:
    phases = [p for p in schedule.phases if p.start < total and p.name != "end"]
    many = len(phases) > 12
    for index, phase in enumerate(phases):
        end = min(phase.end, total - 1) if math.isfinite(phase.end) else total - 1
        colour = _PHASE_COLOURS[index % len(_PHASE_COLOURS)]
        ax.axvspan(max(phase.start, 0), end, color=colour, alpha=0.9, zorder=0, linewidth=0)
        if not many and end - phase.start > 0.04 * total:
            span = f"{end - max(phase.start, 0) + (1 if end == total - 1 else 0):,.0f} steps"
            ax.text(
                (max(phase.start, 0) + end) / 2,
                0.985,
                f"{phase.name}\n{span}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=8,
                color="#333333",
            )


def _annotate_peak(ax: Any, steps: Any, lrs: Any) -> None:
    i = int(lrs.argmax())
    ax.annotate(
        f"peak {lrs[i]:.3g} @ {int(steps[i])}",
        (steps[i], lrs[i]),
        textcoords="offset points",
        xytext=(8, -14),
        fontsize=8,
        color="#1f4e79",
    )
    ax.annotate(
        f"last {lrs[-1]:.3g}",
        (steps[-1], lrs[-1]),
        textcoords="offset points",
        xytext=(-60, 8),
        fontsize=8,
        color="#1f4e79",
    )

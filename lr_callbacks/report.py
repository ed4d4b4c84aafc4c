"""Pictures: a schedule's curve with its phases, a range test, and a run with its alerts.

matplotlib is imported only inside the functions here (``pip install 'lr-callbacks[plot]'``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .schedules import BoundSchedule

if TYPE_CHECKING:
    from .diagnostics import Alert
    from .range_test import RangeTestResult
    from .readers import RunLog

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


def plot_range_test(result: RangeTestResult, path: str | Path, *, title: str | None = None) -> Path:
    """Draw an LR range test to ``path``: loss against LR (log axis), raw and robustly smoothed.

    Marks the suggested peak LR, the divergence onset, the steepest point and the valley
    minimum, shades the band [onset/30, onset/10] (constant LR .. peak LR), clips the y-axis to
    about [0.9 min, 1.5 plateau] so that the explosion does not flatten the valley, and prints
    the flags in the title.

    Raises:
        ValueError: the result holds no finite point to draw.
    """
    import numpy as np

    lrs, losses = np.asarray(result.lrs, dtype=float), np.asarray(result.losses, dtype=float)
    finite = np.isfinite(losses)
    if not finite.any():
        raise ValueError(
            f"plot_range_test: needs at least one finite loss; got {len(losses)} losses, none finite. "
            f"Rerun the range test from a lower start_lr."
        )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5), dpi=150)
    ax.plot(
        lrs[finite], losses[finite], color="#9db9d5", linewidth=1, marker=".", markersize=3, label="raw loss"
    )
    smooth = np.asarray(result.smoothed, dtype=float)
    if smooth.size:
        ax.plot(lrs[: smooth.size], smooth, color="#1f4e79", linewidth=2.4, label="robust fit")
    _mark_range_test(ax, result)
    ax.set_xscale("log")
    ax.set_ylim(*_range_test_ylim(losses[finite], smooth))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    ax.set_title(title or _range_test_title(result), fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def _mark_range_test(ax: Any, result: RangeTestResult) -> None:
    onset = result.divergence_lr
    if (
        onset is not None
        and result.suggested_constant_lr is not None
        and result.suggested_peak_lr is not None
    ):
        ax.axvspan(
            result.suggested_constant_lr,
            result.suggested_peak_lr,
            color="#f6d7a7",
            alpha=0.5,
            zorder=0,
            label="constant .. peak LR (onset/30 .. onset/10)",
        )
    marks = (
        (result.suggested_peak_lr, "#c0392b", "-", "suggested peak LR"),
        (onset, "#7d3c98", "--", "divergence onset"),
        (result.steepest_lr, "#27ae60", ":", "steepest descent"),
        (result.minimum_lr, "#7f8c8d", ":", "valley minimum"),
    )
    for lr, colour, style, name in marks:
        if lr is not None:
            ax.axvline(lr, color=colour, linestyle=style, linewidth=1.6, label=f"{name} {lr:.2g}", zorder=2)


def _range_test_ylim(losses: Any, smooth: Any) -> tuple[float, float]:
    import numpy as np

    curve = smooth if smooth.size else losses
    head = losses[: max(5, int(np.ceil(0.1 * losses.size))) + 1]
    low, plateau = float(np.min(curve)), float(np.median(head))
    top = plateau + 0.5 * max(abs(plateau), plateau - low, 1e-12)
    bottom = 0.9 * low if low > 0 else low - 0.1 * abs(top - low)
    return bottom, top


def _range_test_title(result: RangeTestResult) -> str:
    if result.suggested_peak_lr is None:
        head = "LR range test: no suggestion"
    else:
        head = (
            f"LR range test: peak LR {result.suggested_peak_lr:.2g}, constant LR "
            f"{result.suggested_constant_lr:.2g} (onset {result.divergence_lr:.2g})"
        )
    flags = f"\nflags: {', '.join(result.flags)}" if result.flags else ""
    return head + flags


_SEVERITY_COLOURS = {"info": "#7f8c8d", "warning": "#e67e22", "error": "#c0392b", "critical": "#7b241c"}


def plot_run(
    log: RunLog,
    alerts: Sequence[Alert],
    path: str | Path | IO[bytes],
    *,
    phases: Sequence[tuple[int, int, str]] | None = None,
    log_loss: bool = False,
    title: str | None = None,
) -> Path | None:
    """Draw a run to ``path``: loss (left axis) and LR of group 0 (right axis) against the step.

    Phases (``(start, end, name)``; default: read off the LR curve) are shaded, LR jumps of
    1.5x or more are dotted lines, the validation loss is drawn as points, and each alert is
    a line at its step, coloured by severity and labelled with its rule. Without ``log_loss``
    a loss that explodes is clipped at the top (marked with red triangles).

    Returns:
        The path written, or ``None`` when ``path`` is a binary file object (written as PNG).
    """
    import numpy as np

    from .run_report import derive_phases

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 5.6), dpi=150)
    steps, losses = np.asarray(log.steps, dtype=float), np.asarray(log.losses, dtype=float)
    span = (float(steps.min()), float(steps.max()) if steps.max() > steps.min() else float(steps.min()) + 1)
    _shade_segments(ax, derive_phases(log.steps, log.lrs) if phases is None else phases, span)
    _draw_loss(ax, steps, losses, log.evals, log_loss)
    lr_axis = ax.twinx()
    _draw_lr(lr_axis, log, span)
    _mark_alerts(ax, alerts, steps, losses, span)
    ax.set_xlim(*span)
    ax.set_xlabel("optimizer update (step)")
    ax.set_ylabel("loss" + (" (log scale)" if log_loss else ""))
    lr_axis.set_ylabel("learning rate (group 0)", color="#1f4e79")
    handles = [*ax.get_legend_handles_labels()[0], *lr_axis.get_legend_handles_labels()[0]]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=5, fontsize=7, frameon=False
    )
    ax.set_title(title or log.path, fontsize=9)
    fig.tight_layout()
    if isinstance(path, str | Path):
        fig.savefig(Path(path))
        plt.close(fig)
        return Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return None


def _shade_segments(ax: Any, phases: Sequence[tuple[int, int, str]], span: tuple[float, float]) -> None:
    width = span[1] - span[0]
    for index, (start, end, name) in enumerate(phases):
        colour = _PHASE_COLOURS[index % len(_PHASE_COLOURS)]
        ax.axvspan(start, end, color=colour, alpha=0.9, zorder=0, linewidth=0)
        if end - start > 0.06 * width and len(phases) <= 12:
            ax.text((start + end) / 2, 0.01, name, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=8, color="#555555")  # fmt: skip


def _draw_loss(ax: Any, steps: Any, losses: Any, evals: Sequence[tuple[int, float]], log_loss: bool) -> None:
    import numpy as np

    finite = np.isfinite(losses)
    ax.plot(steps[finite], losses[finite], color="#a9cce3", linewidth=0.8, label="loss", zorder=2)
    if finite.sum() > 10:  # a running median: one bad batch does not bend it
        smooth = np.median(np.lib.stride_tricks.sliding_window_view(losses[finite], 9), axis=1)
        ax.plot(steps[finite][4:-4], smooth, color="#2e4053", linewidth=1.6, label="loss (9-step median)",
                zorder=3)  # fmt: skip
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", color="#d35400", markersize=4, linewidth=1, label="val loss",
                zorder=4)  # fmt: skip
    if log_loss:
        ax.set_yscale("log")
    values = np.concatenate([losses[finite], np.asarray([v for _, v in evals], dtype=float)])
    values = values[np.isfinite(values) & ((values > 0) if log_loss else True)]
    if values.size and not log_loss:
        top = float(np.quantile(values, 0.98)) * 1.3
        if float(values.max()) > top > 0:
            low = float(values.min())
            ax.set_ylim(max(0.0, low - 0.1 * (top - low)) if low >= 0 else low, top)
            clipped = finite & (losses > top)
            ax.plot(steps[clipped], np.full(clipped.sum(), top), "^", color="#c0392b", markersize=4,
                    clip_on=False, label="loss off scale", zorder=5)  # fmt: skip
    bad = ~finite
    if bad.any():
        ax.plot(steps[bad], np.full(bad.sum(), 0.97), "X", color="#7b241c", markersize=7,
                transform=ax.get_xaxis_transform(), label="NaN/Inf loss", zorder=6)  # fmt: skip
    ax.grid(True, alpha=0.3, zorder=1)


def _draw_lr(ax: Any, log: RunLog, span: tuple[float, float]) -> None:
    points = [
        (s, lr) for s, lr in zip(log.steps, log.lrs, strict=True) if lr is not None and math.isfinite(lr)
    ]
    if not points:
        ax.set_yticks([])
        return
    steps, lrs = zip(*points, strict=True)
    ax.plot(steps, lrs, color="#1f4e79", linewidth=2.2, label="learning rate", zorder=3)
    ax.set_ylim(0, max(lrs) * 1.15 if max(lrs) > 0 else 1)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.tick_params(axis="y", colors="#1f4e79")
    changes = [abs(b - a) for (_, a), (_, b) in pairwise(points)] + [0.0]
    for i, ((_, a), (s1, b)) in enumerate(pairwise(points)):
        # A jump, not a step along a ramp: much larger than the changes on either side.
        neighbours = max(changes[i - 1] if i else 0.0, changes[i + 1])
        if a > 0 and b > 0 and max(a / b, b / a) >= 1.5 and changes[i] > 3 * neighbours:
            ax.axvline(s1, color="#1f4e79", linestyle=":", linewidth=1.2, zorder=2)
            ax.annotate(f"LR x{b / a:.3g}", (s1, b), textcoords="offset points", xytext=(4, 6), fontsize=7,
                        color="#1f4e79")  # fmt: skip


def _mark_alerts(
    ax: Any, alerts: Sequence[Alert], steps: Any, losses: Any, span: tuple[float, float]
) -> None:
    width, last_label = span[1] - span[0], dict[str, int]()
    seen: set[str] = set()
    for alert in sorted(alerts, key=lambda a: a.step):
        colour = _SEVERITY_COLOURS.get(alert.severity.value, "grey")
        name = f"alert: {alert.severity.value}"
        ax.axvline(alert.step, color=colour, linewidth=1.3, alpha=0.85, zorder=4,
                   label=None if name in seen else name)  # fmt: skip
        seen.add(name)
        previous = last_label.get(alert.rule)
        if previous is None or alert.step - previous > 0.04 * width:
            last_label[alert.rule] = alert.step
            ax.text(alert.step, 0.93, f" {alert.rule} @{alert.step}", transform=ax.get_xaxis_transform(),
                    rotation=90, va="top", ha="right", fontsize=7, color=colour, zorder=6,
                    bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0, "pad": 1})  # fmt: skip

"""`lr-callbacks report`: a finished run as one picture (PNG) or one self-contained page (HTML).

The input is anything `diagnose` reads, or the JSON Lines that `JsonlMetricsSink` writes
live. Alerts come from the file when it recorded them (the live ones), else from the
diagnostics replayed over the series. Schedule phases come from the schedule spec when
the file recorded it, else from the LR series itself (`derive_phases`). `RunRecorder` is
the sink adapters use to write the report at the end of training (``report_path=``).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from lr_callbacks.diagnose import replay, verdict
from lr_callbacks.diagnostics import Alert, Monitor
from lr_callbacks.readers import RunLog, RunLogError, read_run
from lr_callbacks.sinks import ALERT_LOGGER

#: A stretch of the run: ``(start step, end step, name)``, the end exclusive.
Segment = tuple[int, int, str]


@dataclass
class RunReport:
    """What a report shows: the series, the alerts, the shaded phases and the verdict."""

    log: RunLog
    alerts: list[Alert]
    phases: list[Segment] = field(default_factory=list)
    schedule: str | None = None
    verdict: str = ""


def derive_phases(
    steps: Sequence[int], lrs: Sequence[float | None], tolerance: float = 1e-4
) -> list[Segment]:
    """Warmup / stable / decay / increase segments read off an LR curve.

    Consecutive LRs are classed as rising, flat (relative change under ``tolerance``) or
    falling; runs shorter than 2% of the steps are absorbed by the run before them, so
    float noise and one-step drops (a step decay) do not split a phase. A rise at the
    start is ``warmup``; a jump back up later is an ``increase``.

    Example:
        >>> derive_phases(range(10), [0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.2, 0.1, 0.05, 0.01])
        [(0, 2, 'warmup'), (2, 5, 'stable'), (5, 9, 'decay')]
    """
    points = [(s, lr) for s, lr in zip(steps, lrs, strict=True) if lr is not None and math.isfinite(lr)]
    if len(points) < 2:
        return []
    runs: list[list[Any]] = []  # [kind, start step, end step]
    for (s0, a), (s1, b) in pairwise(points):
        change = (b - a) / max(abs(a), abs(b), 1e-300)
        kind = "up" if change > tolerance else "down" if change < -tolerance else "flat"
        if runs and runs[-1][0] == kind:
            runs[-1][2] = s1
        else:
            runs.append([kind, s0, s1])
    minimum = max(2, len(points) // 50)
    merged: list[list[Any]] = []
    for run in runs:
        if merged and (run[2] - run[1] < minimum or merged[-1][0] == run[0]):
            merged[-1][2] = run[2]
        else:
            merged.append(run)
    names = {"flat": "stable", "down": "decay", "up": "increase"}
    return [(s, e, "warmup" if k == "up" and i == 0 else names[k]) for i, (k, s, e) in enumerate(merged)]


def schedule_phases(spec: str, total_steps: int, steps_per_epoch: int | None) -> list[Segment]:
    """The phases of a schedule spec, bound to the run's lengths."""
    from lr_callbacks.schedules import parse

    bound = parse(spec).bind(total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    phases = [p for p in bound.phases if p.start < total_steps and p.name != "end"]
    return [(int(max(p.start, 0)), int(min(p.end, total_steps)), p.name) for p in phases]


def _recorded(path: str) -> tuple[dict[str, Any] | None, list[Alert] | None]:
    """The run header and alerts of a live JSON Lines file (``None`` when it has none)."""
    if not path.lower().endswith((".jsonl", ".ndjson")):
        return None, None
    header: dict[str, Any] | None = None
    alerts: list[Alert] | None = None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if '"type"' not in line:
                continue
            record = json.loads(line)
            kind = record.pop("type", None) if isinstance(record, dict) else None
            if kind == "run":
                header = record
            elif kind == "alert":
                try:
                    alerts = [*(alerts or []), Alert.from_dict(record)]
                except (ValueError, TypeError) as error:
                    raise RunLogError(f"{path}:{number}: bad alert record ({error})") from None
    return header, alerts


def load_report(
    path: str | os.PathLike[str],
    loss_key: str | None = None,
    lr_key: str | None = None,
    val_key: str | None = None,
) -> RunReport:
    """Read a run for `write_report`.

    Raises:
        RunLogError: missing file, unknown format, missing column, malformed row.
    """
    log = read_run(path, loss_key, lr_key, val_key)
    header, alerts = _recorded(log.path)
    if alerts is None:
        monitor = Monitor(stop_on=(), log=False)
        replay(log, monitor)
        alerts = list(monitor.alerts)
    info = header or {}
    spec, total = info.get("schedule"), info.get("total_steps")
    phases: list[Segment] = []
    if isinstance(spec, str) and isinstance(total, int):
        try:
            phases = schedule_phases(spec, total, info.get("steps_per_epoch"))
        except (ValueError, TypeError):  # a callable's name, not a spec: read the curve instead
            spec = None
    if not phases:
        phases = derive_phases(log.steps, log.lrs)
    return RunReport(log, alerts, phases, spec if phases else None, verdict(log, alerts))


def write_report(report: RunReport, out: str | os.PathLike[str], *, log_loss: bool = False) -> Path:
    """Write the picture (``.png``, ``.svg``, ``.pdf``) or the page (``.html``) to ``out``."""
    from lr_callbacks.report import plot_run

    target = Path(out)
    title = Path(report.log.path).name + (f"\nschedule: {report.schedule}" if report.schedule else "")
    if target.suffix.lower() not in (".html", ".htm"):
        plot_run(report.log, report.alerts, target, phases=report.phases, log_loss=log_loss, title=title)
        return target
    picture = io.BytesIO()
    plot_run(report.log, report.alerts, picture, phases=report.phases, log_loss=log_loss, title=title)
    target.write_text(_page(report, base64.b64encode(picture.getvalue()).decode("ascii")), encoding="utf-8")
    return target


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}img{max-width:100%}"
    "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
    "vertical-align:top}th{background:#f0f0f0}.critical,.error{color:#b03a2e}.warning{color:#b9770e}"
)


def _page(report: RunReport, png: str) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{a.step}</td><td>{esc(a.rule)}</td><td class='{a.severity.value}'>{a.severity.value}</td>"
        f"<td>{esc(a.message)}</td><td>{esc(a.cause)}</td><td>{esc(a.advice)}</td></tr>"
        for a in report.alerts
    )
    table = (
        "<table><tr><th>step</th><th>rule</th><th>severity</th><th>seen</th><th>cause</th><th>advice</th></tr>"
        f"{rows}</table>"
        if rows
        else "<p>No alerts.</p>"
    )
    phases = ", ".join(f"{name} {start}-{end}" for start, end, name in report.phases) or "none"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>lr-callbacks report: "
        f"{esc(Path(report.log.path).name)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>lr-callbacks report</h1><p><b>Run:</b> {esc(report.log.path)}<br><b>Schedule:</b> "
        f"{esc(report.schedule or 'read from the LR curve')}<br><b>Phases:</b> {esc(phases)}</p>"
        f"<p><b>Verdict:</b> {esc(report.verdict)}</p>"
        f"<img alt='LR and loss with alerts' src='data:image/png;base64,{png}'>"
        f"<h2>Alerts ({len(report.alerts)})</h2>{table}</body></html>\n"
    )


class RunRecorder:
    """A metric sink that keeps the run in memory and writes its report at ``close()``.

    Memory grows by a few numbers per update. A report that cannot be written is a sink
    failure like any other: logged once, training unaffected.

    Args:
        path: the report to write (``.png``, ``.svg``, ``.pdf`` or ``.html``).
        log_loss: draw the loss on a log scale.
    """

    def __init__(self, path: str | os.PathLike[str], *, log_loss: bool = False) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"RunRecorder: path must be a str or path; got path={path!r}.")
        self.path, self.log_loss = Path(path), log_loss
        self.log = RunLog(
            str(path), keys={"step": "step", "loss": "loss", "lr": "lr/group0", "val": "val_loss"}
        )
        self.alerts: list[Alert] = []
        self.info: dict[str, Any] = {}

    def log_run(self, info: Mapping[str, Any]) -> None:
        """Keep the schedule spec and lengths (for the phases)."""
        self.info = dict(info)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Keep the step's loss and LR, or its validation loss."""
        if "val_loss" in metrics:
            self.log.evals.append((step, metrics["val_loss"]))
        if "loss" in metrics:
            self.log.steps.append(step)
            self.log.losses.append(metrics["loss"])
            self.log.lrs.append(metrics.get("lr/group0"))

    def emit(self, alert: Alert) -> None:
        """Keep the alert."""
        self.alerts.append(alert)

    def close(self) -> None:
        """Write the report (nothing when no update was seen)."""
        if not self.log.steps:
            return
        spec, total = self.info.get("schedule"), self.info.get("total_steps")
        phases: list[Segment] = []
        if isinstance(spec, str) and isinstance(total, int):
            try:
                phases = schedule_phases(spec, total, self.info.get("steps_per_epoch"))
            except (ValueError, TypeError):
                spec = None
        phases = phases or derive_phases(self.log.steps, self.log.lrs)
        report = RunReport(self.log, self.alerts, phases, spec, verdict(self.log, self.alerts))
        write_report(report, self.path, log_loss=self.log_loss)


def add_report_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``report PATH -o FILE.png|FILE.html [--log-loss] [--loss-key K] [--lr-key K] [--val-key K]``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="draw a finished run: LR and loss on twin axes, phases shaded, alerts marked",
        description="Draw a finished run (CSV, JSONL, TensorBoard dir, W&B CSV export, or the JSONL written "
        "live by JsonlMetricsSink) as a PNG, or as a self-contained HTML page that also lists the alerts.",
    )
    parser.add_argument("path", help="CSV/JSONL/JSON file or TensorBoard log directory")
    parser.add_argument("-o", "--output", required=True, help="FILE.png (.svg, .pdf) or FILE.html")
    parser.add_argument("--log-loss", action="store_true", help="log-scale loss axis")
    parser.add_argument("--loss-key", default=None, help="column/tag of the training loss")
    parser.add_argument("--lr-key", default=None, help="column/tag of the learning rate")
    parser.add_argument("--val-key", default=None, help="column/tag of the validation loss")
    parser.set_defaults(run=run_report)
    return parser


def run_report(args: argparse.Namespace) -> int:
    """Run the command: 0 when written, 2 on bad input (one line on stderr)."""
    alerts_logger = logging.getLogger(ALERT_LOGGER)
    propagate, alerts_logger.propagate = alerts_logger.propagate, False  # the page lists them
    try:
        report = load_report(args.path, args.loss_key, args.lr_key, args.val_key)
        out = write_report(report, args.output, log_loss=args.log_loss)
    except (RunLogError, OSError, ImportError, UnicodeDecodeError, json.JSONDecodeError) as error:
        print(f"lr-callbacks report: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    finally:
        alerts_logger.propagate = propagate
    print(f"wrote {out} ({len(report.alerts)} alert(s)): {report.verdict}")
    return 0

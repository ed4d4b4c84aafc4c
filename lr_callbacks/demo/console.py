"""The demo's text: headers, steps and the closing summary; and quieting the libraries' own chatter."""

from __future__ import annotations

import logging
import os
import shlex
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from lr_callbacks.sinks import ALERT_LOGGER

from .common import format_alert_block, relative

if TYPE_CHECKING:
    from . import DemoResult, RunOutcome

_LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                    "transformers", "wandb", "absl")  # fmt: skip


class DemoConsole:
    """Writes the demo's text to ``stdout`` (progress bars go to ``stderr``, see `LiveConsole`)."""

    def __init__(self, stdout: IO[str], stderr: IO[str]) -> None:
        self.stdout, self.stderr = stdout, stderr

    def say(self, text: str) -> None:
        """One block of text, flushed."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def header(self, framework: str, out: Path, num_train: int, num_val: int) -> None:
        """What is about to happen."""
        self.say(
            f"lr-callbacks demo ({framework}): scikit-learn's digits ({num_train} train / {num_val} validation "
            f"8x8 images, no download), an MLP 64-128-10 with AdamW, on CPU.\nOutput: {out}"
        )

    def step(self, number: int, title: str) -> None:
        """A numbered step of the demo."""
        self.say(f"\n[{number}/4] {title}")

    def summary(self, result: DemoResult) -> str:
        """The closing summary: files, the TensorBoard command, what the alerts said."""
        out, cwd = result.out, Path.cwd()
        where = relative(out, cwd)
        lines = [f"[4/4] Summary ({result.seconds:.0f} s)"]
        if result.interrupted_during is not None:
            lines.append(
                f"INTERRUPTED during run {result.interrupted_during}: what it logged so far is kept."
            )
        lines.append(f"Files, under {where}/:")
        if result.range_test is not None:
            lines.append("  range_test.png, range_test.json   the LR range test and its suggestion")
        lines.append("  reports/<run>.png, .html          LR beside the loss, alerts marked (open the .html)")
        lines.append("  logs/<run>.jsonl                  every update; try: lr-callbacks diagnose "
                     f"{shlex.quote(relative(out / 'logs' / 'bad_batch.jsonl', cwd))}")  # fmt: skip
        if (out / "wandb").is_dir():
            lines.append(
                "  wandb/                            W&B offline runs (upload: wandb sync <run folder>)"
            )
        if any("tensorboard" in run.files for run in result.runs):
            lines += [
                "See LR and loss together in TensorBoard (Custom Scalars tab; the alerts in the Text tab):",
                f"  tensorboard --logdir {shlex.quote(relative(out / 'tensorboard', cwd))}",
            ]
        lines += [f"Note: {note}" for note in result.notes]
        lines.append("What the alerts said:")
        for run in result.runs:
            lines += _run_lines(run, out, cwd)
        return "\n".join(lines)


def _run_lines(run: RunOutcome, out: Path, cwd: Path) -> list[str]:
    accuracy = "" if run.accuracy is None else f", validation accuracy {run.accuracy:.3f}"
    report = run.files.get("html")
    shown = f" -> {relative(report, cwd)}" if report is not None and report.exists() else ""
    lines = [f"  {run.plan.name} ({run.plan.title}): {len(run.alerts)} alert(s){accuracy}{shown}"]
    for alert in run.alerts[:3]:
        lines.append(format_alert_block(alert, indent="    "))
    if len(run.alerts) > 3:
        lines.append(f"    ... and {len(run.alerts) - 3} more in the report")
    return lines


class _DropLints(logging.Filter):
    """Schedule lints are for users' own schedules; the demo's short warmup is deliberate."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("lr_callbacks schedule lint")


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence what would drown the demo's own text, and restore everything afterwards.

    The alerts are printed by the demo itself (not again through logging); the frameworks'
    info lines and warnings are muted; W&B is silent; torch uses one thread (a small MLP on a
    shared CPU runs several times faster so).
    """
    alerts = logging.getLogger(ALERT_LOGGER)
    package, drop = logging.getLogger("lr_callbacks"), _DropLints()
    saved_levels = {name: logging.getLogger(name).level for name in _LIBRARY_LOGGERS}
    saved_propagate, saved_silent = alerts.propagate, os.environ.get("WANDB_SILENT")
    mute = logging.NullHandler()  # without a handler, logging's last resort would print them anyway
    alerts.propagate = False
    alerts.addHandler(mute)
    package.addFilter(drop)
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ["WANDB_SILENT"] = "true"
    threads = _torch_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        alerts.propagate = saved_propagate
        alerts.removeHandler(mute)
        package.removeFilter(drop)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        if saved_silent is None:
            os.environ.pop("WANDB_SILENT", None)
        else:
            os.environ["WANDB_SILENT"] = saved_silent
        _torch_threads(threads)


def _torch_threads(count: int | None) -> int | None:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or count is None:
        return None
    previous = int(torch.get_num_threads())
    torch.set_num_threads(count)
    return previous

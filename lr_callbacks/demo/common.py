"""What every framework's demo shares: the data, the run plans, the live sink, the output layout."""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from lr_callbacks.diagnostics import Alert
from lr_callbacks.range_test import RangeTestResult

#: What the demo writes under its output folder; a re-run removes these, and only these.
OUTPUTS = (
    ".lr-callbacks-demo", "range_test.png", "range_test.json", "tensorboard", "logs", "reports",
    "wandb", "summary.txt",
)  # fmt: skip
MARKER = OUTPUTS[0]
SEED = 0


@dataclass(frozen=True)
class Digits:
    """scikit-learn's bundled 8x8 digits (1,797 images, no download): pixels in [0, 1], a fixed split."""

    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_val: npt.NDArray[np.float32]
    y_val: npt.NDArray[np.int64]


def load_digits_split(num_train: int = 1500) -> Digits:
    """The digits, shuffled once with a fixed seed, split into train and validation."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = (x[order] / 16.0).astype(np.float32), y[order].astype(np.int64)
    return Digits(x[:num_train], y[:num_train], x[num_train:], y[num_train:])


def corrupt_labels(labels: Any) -> Any:
    """A bad batch: the labels of its first half moved to another class (numpy or torch, copied)."""
    half = len(labels) // 2
    bad = labels.clone() if hasattr(labels, "clone") else labels.copy()
    bad[:half] = (bad[:half] + 5) % 10
    return bad


@dataclass(frozen=True)
class RunPlan:
    """One training run of the demo."""

    name: str
    title: str
    spec: str
    peak_lr: float
    epochs: int
    batch_size: int
    bad_step: int | None = None
    log_loss: bool = False  # draw the report's loss on a log scale (an exploding loss)


class Framework(Protocol):
    """A framework's demo module: the range test and one training run, each in that framework."""

    def range_test(self, data: Digits, batch_size: int, num_steps: int, plot: Path) -> RangeTestResult: ...

    def train(self, plan: RunPlan, data: Digits, sinks: list[Any]) -> float | None: ...


def clean_output(out: Path) -> None:
    """Remove the demo's own previous output under ``out`` (nothing else), then create ``out``.

    Raises:
        ValueError: ``out`` exists and is not a folder.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"demo: --out must be a folder; got --out={str(out)!r}, a file. Pass a folder path.")
    for name in OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for folder in ("tensorboard", "logs", "reports"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `lr-callbacks demo`; a re-run removes the demo's files only\n")


class LiveConsole:
    """A metric sink that draws a progress bar on stderr and prints each alert as it fires.

    Args:
        label: the run's name, at the start of the bar.
        stream: where the bar goes (default ``sys.stderr``).
        out: where alerts go (default ``sys.stdout``).
    """

    def __init__(self, label: str, stream: IO[str] | None = None, out: IO[str] | None = None) -> None:
        self.label, self.stream, self.out = label, stream or sys.stderr, out or sys.stdout
        self.total: int | None = None
        self.last = -1
        self._drawn = False

    def log_run(self, info: Mapping[str, Any]) -> None:
        """Learn the run length (for the bar)."""
        total = info.get("total_steps")
        self.total = total if isinstance(total, int) else None

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Redraw the bar every few updates."""
        if "loss" not in metrics:
            return
        self.last = step
        total = self.total or step + 1
        if step % 5 and step + 2 < total:
            return
        done = min(1.0, (step + 1) / total)
        bar = "#" * round(24 * done) + "-" * (24 - round(24 * done))
        loss, lr = metrics["loss"], metrics.get("lr/group0", math.nan)
        self.stream.write(
            f"\r  {self.label:<12} [{bar}] {step + 1:>4}/{total}  loss {loss:7.4f}  lr {lr:.2e}"
        )
        self.stream.flush()
        self._drawn = True

    def emit(self, alert: Alert) -> None:
        """Print the alert on its own lines, under the bar."""
        self._end_line()
        self.out.write(format_alert_block(alert, indent="    ") + "\n")
        self.out.flush()

    def _end_line(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def close(self) -> None:
        """End the bar's line."""
        self._end_line()


def format_alert_block(alert: Alert, indent: str = "  ") -> str:
    """An alert in four lines: rule, severity and step; what was seen; the cause; the advice."""
    return (
        f"{indent}ALERT {alert.rule} ({alert.severity.value}) at step {alert.step}\n"
        f"{indent}  seen:   {alert.message}\n"
        f"{indent}  cause:  {alert.cause}\n"
        f"{indent}  advice: {alert.advice}"
    )


def relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when it is inside it, else absolute."""
    try:
        return os.path.relpath(path, start) if path.is_relative_to(start) else str(path)
    except ValueError:
        return str(path)

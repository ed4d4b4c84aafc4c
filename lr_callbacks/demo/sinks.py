"""The sinks of one demo run: JSON Lines, TensorBoard, W&B offline, the live console; then its reports."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lr_callbacks.dashboards import JsonlMetricsSink
from lr_callbacks.diagnostics import Alert
from lr_callbacks.sinks import ListSink

from .common import LiveConsole, RunPlan

if TYPE_CHECKING:
    from .console import DemoConsole

_log = logging.getLogger("lr_callbacks")


class CloseOnce:
    """Wraps a metric sink so that the demo can close it after the adapter did (or did not, on Ctrl-C)."""

    def __init__(self, sink: Any) -> None:
        self.sink, self.closed = sink, False

    def log_run(self, info: Mapping[str, Any]) -> None:
        """Forward, when the sink takes it."""
        if callable(getattr(self.sink, "log_run", None)):
            self.sink.log_run(info)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Forward."""
        self.sink.log_metrics(step, metrics)

    def emit(self, alert: Alert) -> None:
        """Forward."""
        self.sink.emit(alert)

    def close(self) -> None:
        """Close the wrapped sink once."""
        if not self.closed:
            self.closed = True
            self.sink.close()


class RunSinks:
    """Everything one run writes to, and where (``files``: ``jsonl``, ``tensorboard``, ``png``, ``html``).

    TensorBoard and W&B are used when installed (``use_wandb=None``) and skipped with a note
    otherwise; a W&B run that cannot start is skipped with a note too.
    """

    def __init__(
        self, out: Path, plan: RunPlan, framework: str, use_wandb: bool | None, console: DemoConsole
    ) -> None:
        self.plan, self.notes = plan, list[str]()
        self.files = {
            "jsonl": out / "logs" / f"{plan.name}.jsonl",
            "png": out / "reports" / f"{plan.name}.png",
            "html": out / "reports" / f"{plan.name}.html",
        }
        self.alerts = ListSink()
        self.metric_sinks = [
            CloseOnce(LiveConsole(plan.name, console.stderr, console.stdout)),
            CloseOnce(JsonlMetricsSink(self.files["jsonl"], flush_every=20)),
        ]
        self._add_tensorboard(out / "tensorboard" / plan.name)
        if use_wandb is not False:
            self._add_wandb(out, framework, explicit=use_wandb is True)

    def _add_tensorboard(self, log_dir: Path) -> None:
        try:
            # Through importlib: integration modules are outside the strict type check (pyproject).
            tensorboard = importlib.import_module("lr_callbacks.integrations.tensorboard")
        except ImportError:
            self.notes.append("TensorBoard is not installed: pip install 'lr-callbacks[tensorboard]'")
            return
        self.metric_sinks.append(CloseOnce(tensorboard.tensorboard_sink(log_dir, flush_secs=5)))
        self.files["tensorboard"] = log_dir

    def _add_wandb(self, out: Path, framework: str, explicit: bool) -> None:
        try:
            wandb_sink = importlib.import_module("lr_callbacks.integrations.wandb").wandb_sink
        except ImportError:
            if explicit:
                raise
            self.notes.append(
                "wandb is not installed, so no W&B offline run: pip install 'lr-callbacks[wandb]'"
            )
            return
        try:
            sink = wandb_sink(
                project="lr-callbacks-demo", name=f"{framework}-{self.plan.name}", mode="offline",
                dir=str(out), config={"schedule": self.plan.spec, "framework": framework},
            )  # fmt: skip
        except Exception as error:  # W&B must never stop the demo
            self.notes.append(f"W&B offline run not started ({type(error).__name__}: {error})")
            return
        self.metric_sinks.append(CloseOnce(sink))

    def all(self) -> list[Any]:
        """The sinks to give the framework's ``LRCallback(sinks=...)``."""
        return [self.alerts, *self.metric_sinks]

    def close(self) -> None:
        """Close every sink not closed yet (the adapter closes them at the end of training)."""
        for sink in self.metric_sinks:
            try:
                sink.close()
            except Exception as error:  # one sink failing must not lose the others' files
                _log.error("lr-callbacks demo: closing %r failed: %s", sink.sink, error)

    def write_reports(self) -> None:
        """The run's report picture and page, read back from its JSON Lines like ``lr-callbacks report``."""
        from lr_callbacks.readers import RunLogError
        from lr_callbacks.run_report import load_report, write_report

        try:
            report = load_report(self.files["jsonl"])
        except (RunLogError, OSError):  # interrupted before its first update was logged
            return
        for kind in ("png", "html"):
            write_report(report, self.files[kind], log_loss=self.plan.log_loss)

"""Alert sinks that need no third-party library.

A sink has ``emit(alert)`` and ``close()``. `FanoutSink` runs several and shields
training from them: a sink that raises is reported once on the ``lr_callbacks``
logger, and the other sinks (and the run) go on.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, Protocol, runtime_checkable

from lr_callbacks.diagnostics.alert import Alert

ALERT_LOGGER = "lr_callbacks.alerts"
_log = logging.getLogger("lr_callbacks")


class LRDiagnosticWarning(UserWarning):
    """Category of the warnings `WarningsSink` issues (``-W error::...`` in CI)."""


@runtime_checkable
class Sink(Protocol):
    """Where alerts go."""

    def emit(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


def format_alert(alert: Alert) -> str:
    """One line: ``[step 812] divergence (error): message. Cause: ... Advice: ...``."""
    text = f"[step {alert.step}] {alert.rule} ({alert.severity.value}): {alert.message}"
    if alert.cause:
        text += f". Cause: {alert.cause}"
    if alert.advice:
        text += f". Advice: {alert.advice}"
    return text + "."


class LoggingSink:
    """Logs each alert on ``lr_callbacks.alerts`` at its severity's level (WARNING or above),
    with the `Alert` attached to the record as ``record.alert``. The Monitor always uses one.

    Example:
        >>> import logging
        >>> records = []
        >>> handler = logging.Handler()
        >>> handler.emit = records.append
        >>> logging.getLogger(ALERT_LOGGER).addHandler(handler)
        >>> LoggingSink().emit(Alert("spike", "error", 5, "loss jumped"))
        >>> records[-1].alert.step, records[-1].levelname
        (5, 'ERROR')
        >>> logging.getLogger(ALERT_LOGGER).removeHandler(handler)
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(ALERT_LOGGER)

    def emit(self, alert: Alert) -> None:
        """Log the alert."""
        level = alert.severity.log_level
        self.logger.log(level, "%s", format_alert(alert), extra={"alert": alert})

    def close(self) -> None:
        """Nothing to release."""


class WarningsSink:
    """Issues each alert as an `LRDiagnosticWarning` (the step is in the text, so
    Python's once-per-text filter does not swallow repeats)."""

    def emit(self, alert: Alert) -> None:
        """Warn."""
        warnings.warn(format_alert(alert), LRDiagnosticWarning, stacklevel=2)

    def close(self) -> None:
        """Nothing to release."""


class JsonlSink:
    """Appends each alert as one JSON line to `path`, flushed at once so a crash loses
    nothing already emitted. The file is opened on the first alert.

    Args:
        path: file to append to; its folder must exist.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"JsonlSink: path must be a str or path; got path={path!r}.")
        self.path = os.fspath(path)
        self._file: IO[str] | None = None

    def emit(self, alert: Alert) -> None:
        """Append and flush one line."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps(alert.to_dict(), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (a later alert reopens it)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class CallableSink:
    """Calls ``fn(alert)`` for each alert.

    Example:
        >>> seen = []
        >>> CallableSink(seen.append).emit(Alert("plateau", "warning", 1, "flat"))
        >>> seen[0].rule
        'plateau'
    """

    def __init__(self, fn: Callable[[Alert], object]) -> None:
        if not callable(fn):
            raise TypeError(f"CallableSink: fn must be callable; got fn={fn!r}. Pass a function.")
        self.fn = fn

    def emit(self, alert: Alert) -> None:
        """Call the function."""
        self.fn(alert)

    def close(self) -> None:
        """Nothing to release."""


class ListSink:
    """Keeps alerts in memory, in `alerts` (tests, notebooks)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alert: Alert) -> None:
        """Append."""
        self.alerts.append(alert)

    def close(self) -> None:
        """Nothing to release."""


class FanoutSink:
    """Sends each alert to every sink; a failing sink is reported once and skipped over.

    Example:
        >>> def broken(alert): raise OSError("disk full")
        >>> kept = ListSink()
        >>> fan = FanoutSink([CallableSink(broken), kept])
        >>> fan.emit(Alert("spike", "info", 1, "a")); fan.emit(Alert("spike", "info", 2, "b"))
        >>> [a.step for a in kept.alerts], fan.failures
        ([1, 2], 2)
    """

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks = list(sinks)
        for sink in self.sinks:
            if not callable(getattr(sink, "emit", None)):
                raise TypeError(
                    f"FanoutSink: each sink needs an emit(alert) method; got sink={sink!r}. "
                    "Wrap a function in CallableSink."
                )
        self.failures = 0
        self._reported: set[int] = set()

    def emit(self, alert: Alert) -> None:
        """Emit to all sinks, shielding each from the others."""
        for sink in self.sinks:
            try:
                sink.emit(alert)
            except Exception as error:
                self._report(sink, "emit", error)

    def close(self) -> None:
        """Close all sinks, shielding each from the others."""
        self.call("close")

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Send one update's metrics to every sink that takes them (see `lr_callbacks.dashboards`)."""
        self.call("log_metrics", step, metrics)

    def log_run(self, info: Mapping[str, Any]) -> None:
        """Send the run's description to every sink that takes it."""
        self.call("log_run", info)

    def call(self, method: str, *args: Any, sinks: Iterable[object] | None = None) -> None:
        """Call ``method(*args)`` on every sink (or on ``sinks``) that has it, shielding each from the others."""
        for sink in self.sinks if sinks is None else sinks:
            function = getattr(sink, method, None)
            try:
                if function is not None:
                    function(*args)
            except Exception as error:
                self._report(sink, method, error)

    def _report(self, sink: object, action: str, error: Exception) -> None:
        self.failures += 1
        if id(sink) in self._reported:
            return
        self._reported.add(id(sink))
        _log.error(
            "sink %r failed in %s (%s: %s); training goes on, the other sinks too, and its "
            "later failures are not reported",
            sink, action, type(error).__name__, error,
        )  # fmt: skip

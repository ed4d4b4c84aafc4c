"""Diagnosis of a finished run: the live Monitor replayed over its logs.

`diagnose` reads a CSV, JSONL/JSON file or TensorBoard directory (see
`lr_callbacks.readers`), feeds every step to a `Monitor` exactly as a live run
would (each step's training loss first, then any evaluation logged at that step),
and returns the alerts with a one-paragraph verdict. The CLI's ``diagnose``
command is `add_diagnose_command` + `run_diagnose`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from lr_callbacks.diagnostics import Alert, Monitor, RuleProtocol
from lr_callbacks.readers import RunLog, RunLogError, read_run
from lr_callbacks.sinks import ALERT_LOGGER


@dataclass
class Diagnosis:
    """What `diagnose` found: the alerts, a verdict paragraph and what was read."""

    path: str
    alerts: list[Alert]
    verdict: str
    num_steps: int
    first_step: int
    last_step: int
    keys: dict[str, str | None] = field(default_factory=dict)


def replay(log: RunLog, monitor: Monitor) -> None:
    """Feed a `RunLog` to `monitor`: per step, the training loss, then evaluations."""
    evals, j = log.evals, 0
    next_eval = evals[0][0] if evals else math.inf
    observe, observe_eval = monitor.observe, monitor.observe_eval
    for step, loss, lr in zip(log.steps, log.losses, log.lrs, strict=True):
        observe(step, loss, lr)
        if step >= next_eval:
            while j < len(evals) and evals[j][0] <= step:
                observe_eval(evals[j][0], {"val_loss": evals[j][1]})
                j += 1
            next_eval = evals[j][0] if j < len(evals) else math.inf
    for step, value in evals[j:]:
        observe_eval(step, {"val_loss": value})


def diagnose(
    path: str | os.PathLike[str],
    loss_key: str | None = None,
    lr_key: str | None = None,
    val_key: str | None = None,
    rules: Iterable[RuleProtocol] | None = None,
) -> Diagnosis:
    """Run the diagnostics over a finished run's logs.

    Args:
        path: a CSV / JSONL / JSON file or a TensorBoard log directory.
        loss_key, lr_key, val_key: column or tag names, when not the usual ones.
        rules: rules to run (default: all built-in rules).

    Raises:
        RunLogError: missing file, unknown format, missing column, malformed row.
    """
    log = read_run(path, loss_key, lr_key, val_key)
    monitor = Monitor(rules=rules, stop_on=())
    replay(log, monitor)
    monitor.close()
    return Diagnosis(
        path=log.path,
        alerts=list(monitor.alerts),
        verdict=verdict(log, monitor.alerts),
        num_steps=len(log.steps),
        first_step=log.steps[0],
        last_step=log.steps[-1],
        keys=dict(log.keys),
    )


def verdict(log: RunLog, alerts: list[Alert]) -> str:
    """One paragraph: what the run shows, the most urgent finding and its remedy."""
    finite = [x for x in log.losses if math.isfinite(x)]
    span = f"{len(log.steps)} steps ({log.steps[0]}-{log.steps[-1]})"
    if finite:
        span += f"; loss {finite[0]:.3g} at the start, {finite[-1]:.3g} at the end"
    if not alerts:
        return f"No learning-rate problem found in {span}."
    counts = Counter(a.rule for a in alerts)
    found = ", ".join(f"{rule} x{n}" if n > 1 else rule for rule, n in counts.items())
    worst = max(alerts, key=lambda a: (a.severity.rank, -a.step))
    lead = f"Found {len(alerts)} alert(s) in {span}: {found}."
    main = f" Most urgent: {worst.rule} at step {worst.step} ({worst.severity.value}): "
    main += f"{worst.message}. Likely cause: {worst.cause}. Remedy: {worst.advice}."
    if all(a.severity.value == "info" for a in alerts):
        main += " All alerts are informational: nothing needs changing."
    return lead + main


def format_text(diagnosis: Diagnosis) -> str:
    """A readable report: each alert with step, rule, message, cause, advice; then the verdict."""
    keys = ", ".join(f"{k}={v!r}" for k, v in diagnosis.keys.items() if v is not None)
    lines = [f"lr-callbacks diagnose: {diagnosis.path} ({diagnosis.num_steps} steps; {keys})", ""]
    for alert in diagnosis.alerts:
        lines += [
            f"step {alert.step}  {alert.rule}  [{alert.severity.value}]",
            f"  seen:   {alert.message}",
            f"  cause:  {alert.cause}",
            f"  advice: {alert.advice}",
            "",
        ]
    lines.append(f"Verdict: {diagnosis.verdict}")
    return "\n".join(lines) + "\n"


def format_jsonl(diagnosis: Diagnosis) -> str:
    """One JSON object per alert, per line (keys rule, step, severity, message, cause,
    advice, evidence)."""
    return "".join(json.dumps(a.to_dict(), allow_nan=False) + "\n" for a in diagnosis.alerts)


def add_diagnose_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``diagnose PATH [--format text|jsonl] [--loss-key K] [--lr-key K] [--val-key K]``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diagnose",
        help="diagnose LR problems in a finished run's logs",
        description="Replay a finished run (CSV, JSONL, TensorBoard dir, W&B CSV export) "
        "through the live diagnostics and print its alerts and a verdict.",
    )
    parser.add_argument("path", help="CSV/JSONL/JSON file or TensorBoard log directory")
    parser.add_argument("--format", choices=("text", "jsonl"), default="text")
    parser.add_argument("--loss-key", default=None, help="column/tag of the training loss")
    parser.add_argument("--lr-key", default=None, help="column/tag of the learning rate")
    parser.add_argument("--val-key", default=None, help="column/tag of the validation loss")
    parser.set_defaults(func=run_diagnose, run=run_diagnose)  # the CLI dispatches on `run`
    return parser


def run_diagnose(args: argparse.Namespace) -> int:
    """Run the command: 0 when the diagnosis ran, 2 on bad input (one line on stderr)."""
    alerts_logger = logging.getLogger(ALERT_LOGGER)
    quiet, propagate = logging.NullHandler(), alerts_logger.propagate
    alerts_logger.addHandler(quiet)  # the report already prints every alert
    alerts_logger.propagate = False
    try:
        result = diagnose(args.path, args.loss_key, args.lr_key, args.val_key)
    except (RunLogError, OSError, ImportError, UnicodeDecodeError) as error:
        print(f"lr-callbacks diagnose: error: {_one_line(error, args.path)}", file=sys.stderr)
        return 2
    finally:
        alerts_logger.removeHandler(quiet)
        alerts_logger.propagate = propagate
    out = format_jsonl(result) if args.format == "jsonl" else format_text(result)
    sys.stdout.write(out)
    return 0


def _one_line(error: BaseException, path: str) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, OSError | UnicodeDecodeError) and path not in text:
        text = f"{path}: {text}"
    return text

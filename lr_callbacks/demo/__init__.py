"""`lr-callbacks demo`: the whole product in one command, on real data, on CPU, in well under 3 minutes.

On scikit-learn's bundled digits (no download) with a small MLP, in the chosen framework:

1. an LR range test, its plot, and the suggested peak LR;
2. a healthy run: linear warmup (5%) + cosine at that peak, LR and loss of every update in
   TensorBoard (and in a W&B offline run when wandb is installed), live alerts on;
3. two runs that go wrong on purpose: a peak LR 100x too high, and a batch with half its labels wrong;
   their alerts fire live, with what was seen, the likely cause and the remedy;
4. the report of each run (``lr-callbacks report``'s picture and page) and a summary: where the
   files are, the ``tensorboard --logdir`` command, what the alerts said.

Everything goes under ``--out`` (default ``./lr-callbacks-demo``). A re-run first removes what
the demo wrote there before (the names in `common.OUTPUTS`), never anything else. Ctrl-C stops
it with exit code 130 and leaves what was written so far readable: the sinks are closed (files
flushed), the interrupted run's report is written from what it logged, and ``summary.txt`` says
where it stopped. The framework is imported only when the demo runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from lr_callbacks.diagnostics import Alert
from lr_callbacks.range_test import RangeTestResult

from .common import Digits, Framework, RunPlan, clean_output, load_digits_split, relative
from .console import DemoConsole, quiet_libraries
from .sinks import RunSinks

__all__ = ["FRAMEWORKS", "DemoResult", "DemoSize", "RunOutcome", "add_demo_command", "run_demo"]

FRAMEWORKS = ("torch", "lightning", "transformers", "keras")
DEFAULT_OUT = "lr-callbacks-demo"
TOO_HIGH_FACTOR = 100.0
FALLBACK_PEAK_LR = 3e-3


@dataclass(frozen=True)
class DemoSize:
    """How long the runs are: ``FULL`` for the command, ``QUICK`` (``--quick``) for smoke tests."""

    epochs: int
    short_epochs: int
    batch_size: int
    range_steps: int
    bad_fraction: float  # where in the run the bad batch comes


FULL = DemoSize(epochs=10, short_epochs=3, batch_size=32, range_steps=100, bad_fraction=0.6)
# Shorter runs are noisier where the bad batch comes: later, the spike stands out as clearly.
QUICK = DemoSize(epochs=5, short_epochs=1, batch_size=32, range_steps=100, bad_fraction=0.8)


@dataclass
class RunOutcome:
    """One finished (or interrupted) run: its plan, alerts, accuracy and files."""

    plan: RunPlan
    alerts: list[Alert] = field(default_factory=list)
    accuracy: float | None = None
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class DemoResult:
    """What the demo did and wrote."""

    out: Path
    framework: str
    range_test: RangeTestResult | None = None
    peak_lr: float | None = None
    runs: list[RunOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted_during: str | None = None


def plans(peak_lr: float, size: DemoSize, steps_per_epoch: int) -> list[RunPlan]:
    """The three runs: healthy, a peak LR far too high, a bad batch (at 60% of the run, by default)."""
    spec = "warmup_cosine(peak_lr={:.3g}, warmup=0.05, min_lr_ratio=0.1)"
    high = peak_lr * TOO_HIGH_FACTOR
    bad_step = int(size.bad_fraction * size.epochs * steps_per_epoch)
    return [
        RunPlan("healthy", f"warmup + cosine at the suggested peak LR {peak_lr:.3g}", spec.format(peak_lr),
                peak_lr, size.epochs, size.batch_size),
        RunPlan("lr_too_high", f"peak LR {high:.3g}, {TOO_HIGH_FACTOR:.0f}x the suggestion", spec.format(high),
                high, size.short_epochs, size.batch_size, log_loss=True),
        RunPlan("bad_batch", f"as healthy; at step {bad_step} a batch with half its labels wrong", spec.format(peak_lr),
                peak_lr, size.epochs, size.batch_size, bad_step=bad_step),
    ]  # fmt: skip


def load_framework(name: str) -> Framework:
    """The demo module of framework ``name`` (imports the framework).

    Raises:
        ValueError: an unknown name.
        ImportError: the framework is not installed (the message names the extra to install).
    """
    if name not in FRAMEWORKS:
        raise ValueError(f"demo: --framework must be one of {list(FRAMEWORKS)}; got --framework={name!r}.")
    return cast(Framework, importlib.import_module(f"lr_callbacks.demo.{name}_demo"))


def run_demo(
    out: str | Path = DEFAULT_OUT,
    framework: str = "torch",
    *,
    quick: bool = False,
    use_wandb: bool | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> DemoResult:
    """Run the demo; see the module docstring.

    Args:
        out: the output folder (created; the demo's previous output in it is replaced).
        framework: ``"torch"``, ``"lightning"``, ``"transformers"`` or ``"keras"``.
        quick: shorter runs (a smoke test); the alerts still fire.
        use_wandb: log to a W&B offline run; ``None``: when wandb is installed.
        stdout, stderr: where the text and the progress bars go.

    Raises:
        ValueError: an unknown framework, or ``out`` is a file.
        ImportError: the framework (or scikit-learn) is not installed.
        KeyboardInterrupt: Ctrl-C; what was written so far is closed and readable first.
    """
    console = DemoConsole(stdout or sys.stdout, stderr or sys.stderr)
    module = load_framework(framework)
    data = load_digits_split()
    root = Path(out).resolve()
    clean_output(root)
    result = DemoResult(root, framework)
    started = time.perf_counter()
    try:
        with quiet_libraries():
            _run(module, data, QUICK if quick else FULL, use_wandb, result, console)
    except KeyboardInterrupt:
        result.seconds = time.perf_counter() - started
        _write_summary(result, console.summary(result))
        raise
    result.seconds = time.perf_counter() - started
    text = console.summary(result)
    _write_summary(result, text)
    console.say("\n" + text)
    return result


def _run(
    module: Framework, data: Digits, size: DemoSize, use_wandb: bool | None, result: DemoResult,
    console: DemoConsole,
) -> None:  # fmt: skip
    console.header(result.framework, result.out, len(data.x_train), len(data.x_val))
    console.step(1, f"LR range test ({size.range_steps} updates, LR 1e-7 -> 10, exponential)")
    result.range_test = module.range_test(
        data, size.batch_size, size.range_steps, result.out / "range_test.png"
    )
    (result.out / "range_test.json").write_text(json.dumps(result.range_test.to_dict(), indent=1) + "\n")
    peak = result.range_test.suggested_peak_lr
    console.say(f"  {result.range_test.message()}")
    if peak is None:
        peak = FALLBACK_PEAK_LR
        result.notes.append(f"the range test gave no suggestion; the runs use peak LR {peak:g}")
    result.peak_lr = peak
    steps_per_epoch = -(-len(data.x_train) // size.batch_size)
    for plan in plans(peak, size, steps_per_epoch):
        if plan.name == "healthy":
            console.step(2, f"Train: linear warmup (5%) + cosine at the suggested peak LR {peak:.3g}")
        elif plan.name == "lr_too_high":
            console.step(3, "Two runs that go wrong on purpose: watch the live alerts")
        _train_one(module, plan, data, use_wandb, result, console)


def _train_one(
    module: Framework, plan: RunPlan, data: Digits, use_wandb: bool | None, result: DemoResult,
    console: DemoConsole,
) -> None:  # fmt: skip
    console.say(f"  run {plan.name}: {plan.title}\n    schedule {plan.spec}, {plan.epochs} epoch(s)")
    sinks = RunSinks(result.out, plan, result.framework, use_wandb, console)
    result.notes.extend(note for note in sinks.notes if note not in result.notes)
    outcome = RunOutcome(plan, files=sinks.files)
    result.runs.append(outcome)
    result.interrupted_during = plan.name
    try:
        outcome.accuracy = module.train(plan, data, sinks.all())
    finally:
        sinks.close()
        outcome.alerts = list(sinks.alerts.alerts)
        sinks.write_reports()
    result.interrupted_during = None
    if not outcome.alerts:
        console.say("    no alerts")
    if outcome.accuracy is not None:
        console.say(f"    validation accuracy {outcome.accuracy:.3f}")


def _write_summary(result: DemoResult, text: str) -> None:
    (result.out / "summary.txt").write_text(text + "\n", encoding="utf-8")


def add_demo_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``demo [--out DIR] [--framework torch|lightning|transformers|keras] [--quick] [--no-wandb]``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="the whole product in one command: range test, training with live alerts, reports",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default ./{DEFAULT_OUT})")
    parser.add_argument(
        "--framework", choices=FRAMEWORKS, default="torch", help="default: torch (the fastest)"
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    parser.add_argument("--no-wandb", action="store_true", help="skip the W&B offline run")
    parser.set_defaults(run=run_demo_command)
    return parser


def run_demo_command(args: argparse.Namespace) -> int:
    """Run the command: 0 when done, 130 on Ctrl-C (what was written so far stays readable)."""
    try:
        run_demo(args.out, args.framework, quick=args.quick, use_wandb=False if args.no_wandb else None)
    except KeyboardInterrupt:
        out = Path(args.out).resolve()
        print(
            f"\nlr-callbacks demo: interrupted. What was written so far is closed and readable in {out} "
            f"(see {relative(out / 'summary.txt', Path.cwd())}); run the command again to start over.",
            file=sys.stderr,
        )
        return 130
    return 0

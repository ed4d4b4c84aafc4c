"""Score LR-problem detectors on the labelled benchmark of real training runs.

A detector is any callable ``detect(rows, events) -> list[tuple[str, int]]`` returning
``(rule, step)`` pairs, where ``rows`` is a list of ``(step, loss, lr, val_loss_or_None)``
and ``events`` the run's schedule events from ``labels.json``.

Figures:

- recall per rule: expected windows hit by an alert of that rule / expected windows;
- overall recall: all expected windows hit / all expected windows;
- false alerts per 10,000 clean steps: alerts of ANY rule whose step lies in a clean window;
- unlabelled alerts (reported apart): alerts in neither a clean window nor a matching
  expected window (same rule, step inside it).

Usage (from the repository root)::

    .venv/bin/python benchmarks/detection/score.py [--json OUT] [--verbose] [--labels PATH]

``--labels`` scores another labelled set (for example ``heldout/labels.json``); run files
are read relative to the labels file's folder. A detector may return ``(rule, step)`` or
``(rule, step, message)``; ``--verbose`` lists every miss and every false alert with it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LABELS_PATH = HERE / "labels.json"
RULES = (
    "nonfinite",
    "divergence",
    "spike",
    "slow_progress",
    "plateau",
    "oscillation",
    "overfitting",
)

Row = tuple[int, float, float, "float | None"]
Event = dict[str, Any]
Detector = Callable[[list[Row], list[Event]], "list[tuple[str, int]] | list[tuple[str, int, str]]"]


# ---------------------------------------------------------------------------------- loading


def load_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8") as fh:
        header = fh.readline().strip()
        if header != "step,loss,lr,val_loss":
            raise ValueError(f"{path}: unexpected header {header!r}")
        for line in fh:
            step, loss, lr, val = line.rstrip("\n").split(",")
            rows.append((int(step), float(loss), float(lr), float(val) if val else None))
    return rows


def load_labels(path: Path = LABELS_PATH) -> dict[str, Any]:
    runs: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["runs"]
    return runs


# --------------------------------------------------------------------------------- scoring


@dataclass
class Score:
    detector: str
    hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    windows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    false_alerts: int = 0
    unlabelled: int = 0
    clean_steps: int = 0
    per_run: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        total = sum(self.windows.values())
        return sum(self.hits.values()) / total if total else math.nan

    def rule_recall(self, rule: str) -> float:
        n = self.windows[rule]
        return self.hits[rule] / n if n else math.nan

    @property
    def false_per_10k(self) -> float:
        return 1e4 * self.false_alerts / self.clean_steps if self.clean_steps else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "recall_per_rule": {r: self.rule_recall(r) for r in RULES if self.windows[r]},
            "windows_per_rule": {r: self.windows[r] for r in RULES if self.windows[r]},
            "overall_recall": self.recall,
            "false_alerts": self.false_alerts,
            "clean_steps": self.clean_steps,
            "false_alerts_per_10k_clean_steps": self.false_per_10k,
            "unlabelled_alerts": self.unlabelled,
            "per_run": self.per_run,
        }


def _inside(step: int, window: Sequence[int]) -> bool:
    return window[0] <= step <= window[1]


def score(name: str, detect: Detector, labels: dict[str, Any], root: Path = HERE) -> Score:
    result = Score(name)
    for run, spec in labels.items():
        rows = load_rows(root / spec["file"])
        raw = [(*a, "")[:3] for a in detect(rows, spec["events"])]
        messages = {(str(a[0]), int(a[1])): str(a[2]) for a in raw}
        alerts = [(str(rule), int(step)) for rule, step, _ in raw]
        missed, false, unlabelled = [], [], []
        for exp in spec["expected"]:
            window = (exp["start"], exp["end"])
            result.windows[exp["rule"]] += 1
            if any(rule == exp["rule"] and _inside(step, window) for rule, step in alerts):
                result.hits[exp["rule"]] += 1
            else:
                missed.append(exp)
        for rule, step in alerts:
            if any(_inside(step, w) for w in spec["clean"]):
                false.append((rule, step))
            elif not any(
                rule == e["rule"] and _inside(step, (e["start"], e["end"])) for e in spec["expected"]
            ):
                unlabelled.append((rule, step))
        result.false_alerts += len(false)
        result.unlabelled += len(unlabelled)
        result.clean_steps += sum(end - start + 1 for start, end in spec["clean"])
        result.per_run[run] = {
            "alerts": len(alerts),
            "missed": missed,
            "false": false,
            "unlabelled": unlabelled,
            "messages": {f"{r}@{st}": messages[(r, st)] for r, st in false + unlabelled},
            "all_alerts": alerts,
        }
    return result


# --------------------------------------------------------------------------------- detectors


def naive_baseline(rows: list[Row], events: list[Event]) -> list[tuple[str, int]]:
    """Fixed thresholds, no grace, no statistics of the run's own noise.

    Each rule fires when its condition becomes true (rising edge), not on every step it
    holds, so the counts are comparable to a detector that reports state changes.
    """
    del events  # the baseline ignores the schedule
    out: list[tuple[str, int]] = []
    active: dict[str, bool] = dict.fromkeys(RULES, False)

    def edge(rule: str, cond: bool, step: int) -> None:
        if cond and not active[rule]:
            out.append((rule, step))
        active[rule] = cond

    first: float | None = None
    prev: float | None = None
    best, best_step = math.inf, 0
    recent: list[float] = []
    val_best, train_at_val_best = math.inf, math.inf
    for step, loss, _lr, val in rows:
        finite = math.isfinite(loss)
        edge("nonfinite", not finite, step)
        if not finite:
            prev = None
            continue
        if first is None:
            first = loss
        edge("divergence", loss > 2 * first, step)
        edge("spike", prev is not None and loss > 3 * prev, step)
        prev = loss
        if loss < 0.99 * best:
            best, best_step = loss, step
        stuck = step - best_step >= 200
        edge("plateau", stuck, step)
        if stuck:  # fire again after another 200 steps without a 1% improvement
            best_step, active["plateau"] = step, False
        edge("slow_progress", step >= 500 and loss > 0.9 * first, step)
        recent = [*recent[-49:], loss]
        train_mean = statistics.fmean(recent)
        if len(recent) == 50:
            diffs = [b - a for a, b in itertools.pairwise(recent)]
            edge("oscillation", statistics.pstdev(diffs) > 0.5 * train_mean, step)
        if val is not None and math.isfinite(val):
            if val < val_best:
                val_best, train_at_val_best = val, train_mean
            edge("overfitting", val > 1.05 * val_best and train_mean < train_at_val_best, step)
    return out


def monitor_detector() -> Detector | str:
    """The project's ``lr_callbacks.diagnostics.Monitor``, or why it cannot be used."""
    sys.path.insert(0, str(HERE.parent.parent))
    try:
        from lr_callbacks.diagnostics import Monitor
    except ImportError as exc:
        return f"lr_callbacks.diagnostics.Monitor is not importable yet ({exc})"

    def detect(rows: list[Row], events: list[Event]) -> list[tuple[str, int, str]]:
        try:
            monitor = Monitor(log=False)
        except TypeError:
            monitor = Monitor()
        monitor.add_events(events)
        for step, loss, lr, val in rows:
            monitor.observe(step, loss, lrs=[lr])
            if val is not None:
                monitor.observe_eval(step, {"val_loss": val})
        return [(alert.rule, alert.step, alert.message) for alert in monitor.alerts]

    return detect


# ----------------------------------------------------------------------------------- report


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def markdown(scores: Sequence[Score]) -> str:
    rules = [r for r in RULES if scores and scores[0].windows[r]]
    head = [
        "detector",
        *[f"{r} ({scores[0].windows[r]})" for r in rules],
        "overall recall",
        "false / 10k clean steps",
        "clean steps",
        "unlabelled alerts",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in scores:
        cells = [
            s.detector,
            *[_fmt(s.rule_recall(r)) for r in rules],
            _fmt(s.recall),
            _fmt(s.false_per_10k),
            str(s.clean_steps),
            str(s.unlabelled),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(s: Score, limit: int | None = 8) -> str:
    """Misses and false alerts per run; with ``limit=None`` every one, with its message and
    the run's alerts of the missed rule (to see whether it fired early, late or never)."""
    out = [f"\n### {s.detector}: misses and false alerts per run"]
    for run, d in s.per_run.items():
        if not (d["missed"] or d["false"]):
            continue
        if limit is not None:
            missed = [(m["rule"], m["start"], m["end"]) for m in d["missed"]]
            out.append(f"- {run}: missed {missed}; false {d['false'][:limit]}")
            continue
        out.append(f"- {run}:")
        for m in d["missed"]:
            fired = [st for r, st in d["all_alerts"] if r == m["rule"]]
            out.append(f"  - MISS {m['rule']} [{m['start']}, {m['end']}]; "
                       f"{m['rule']} fired at {fired or 'no step'}")  # fmt: skip
        for rule, step in d["false"]:
            msg = d["messages"].get(f"{rule}@{step}", "")
            out.append(f"  - FALSE {rule} at step {step}" + (f": {msg}" if msg else ""))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    parser.add_argument("--verbose", action="store_true", help="list misses and false alerts")
    parser.add_argument("--labels", type=Path, default=LABELS_PATH,
                        help="labels file to score (default: the calibration set)")  # fmt: skip
    args = parser.parse_args(argv)
    labels = load_labels(args.labels)
    root = args.labels.resolve().parent
    detectors: list[tuple[str, Detector]] = [("naive baseline", naive_baseline)]
    monitor = monitor_detector()
    if isinstance(monitor, str):
        print(f"note: {monitor}; scoring the baseline only.\n")
    else:
        detectors.append(("lr_callbacks Monitor", monitor))
    scores = [score(name, fn, labels, root) for name, fn in detectors]
    print(f"{len(labels)} runs, {sum(len(v['expected']) for v in labels.values())} expected "
          "windows; recall per rule (number of windows in brackets)\n")  # fmt: skip
    print(markdown(scores))
    if args.verbose:
        for s in scores:  # the baseline's long list is cut; the Monitor's is complete
            print(details(s, limit=8 if s.detector == "naive baseline" else None))
    if args.json:
        Path(args.json).write_text(
            json.dumps([s.as_dict() for s in scores], indent=1) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()

"""Offline diagnosis: the CLI command, its output formats, bad input, live == offline."""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from lr_callbacks.diagnose import add_diagnose_command, diagnose, format_jsonl, run_diagnose
from lr_callbacks.diagnostics import Monitor


def _rows(n: int = 3000) -> list[tuple[int, float, float, float | None]]:
    """A run with a step decay, a bad batch, a late NaN and evaluations every 100 steps."""
    rng = random.Random(11)
    rows = []
    for t in range(n):
        lr = 0.1 * (0.1 if t >= 1000 else 1.0)
        loss = 2.3 * (1 + t / 10) ** -0.15 * math.exp(rng.gauss(0, 0.1))
        loss *= 20.0 if t == 1800 else 1.0
        loss = math.inf if t == 2500 else loss
        val = 1.2 - t / 10000 if t % 100 == 99 else None
        rows.append((t, loss, lr, val))
    return rows


def _write_csv(path: Path, rows) -> Path:
    lines = ["step,loss,lr,val_loss"]
    lines += [f"{s},{loss!r},{lr!r},{'' if v is None else repr(v)}" for s, loss, lr, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _args(path, fmt: str = "text", **keys) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lr-callbacks")
    add_diagnose_command(parser.add_subparsers(dest="command"))
    argv = ["diagnose", str(path), "--format", fmt]
    for key, value in keys.items():
        argv += [f"--{key.replace('_', '-')}", value]
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger("lr_callbacks.alerts").disabled = True
    yield
    logging.getLogger("lr_callbacks.alerts").disabled = False


def test_live_and_offline_give_the_same_alerts(tmp_path):
    rows = _rows()
    live = Monitor(stop_on=())
    for step, loss, lr, val in rows:  # the documented order: train step, then its evaluation
        live.observe(step, loss, [lr])
        if val is not None:
            live.observe_eval(step, {"val_loss": val})
    offline = diagnose(_write_csv(tmp_path / "run.csv", rows))
    assert [a.to_dict() for a in offline.alerts] == [a.to_dict() for a in live.alerts]
    assert {a.rule for a in live.alerts} >= {"spike", "nonfinite"}


def test_text_report_lists_alerts_then_the_verdict(tmp_path, capsys):
    path = _write_csv(tmp_path / "run.csv", _rows())
    args = _args(path)
    assert args.run is run_diagnose and args.func is run_diagnose  # what the CLI dispatches on
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "step 1800  spike  [warning]" in out and "likely a bad batch (step 1800" in out
    assert "step 2500  nonfinite  [critical]" in out
    assert "reduce the LR 3-10x; it is 0.01 now" in out
    assert out.rstrip().splitlines()[-1].startswith("Verdict: Found 2 alert(s) in 3000 steps")
    assert "Most urgent: nonfinite at step 2500 (critical)" in out


def test_jsonl_output_has_the_documented_keys(tmp_path, capsys):
    path = _write_csv(tmp_path / "run.csv", _rows())
    assert run_diagnose(_args(path, "jsonl")) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["rule"], d["step"], d["severity"]) for d in lines] == [
        ("spike", 1800, "warning"), ("nonfinite", 2500, "critical"),
    ]  # fmt: skip
    assert all({"rule", "step", "severity", "message", "cause", "advice"} <= set(d) for d in lines)


def test_healthy_run_verdict(tmp_path):
    result = diagnose(_write_csv(tmp_path / "ok.csv", _rows(900)))
    assert result.alerts == [] and format_jsonl(result) == ""
    assert result.verdict.startswith("No learning-rate problem found in 900 steps (0-899)")


def test_key_flags_reach_the_reader(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("step,objective\n0,2.0\n1,1.9\n", encoding="utf-8")
    assert run_diagnose(_args(path, loss_key="objective")) == 0
    assert "loss='objective'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("absent.csv", None, "absent.csv: no such file or directory"),
        ("run.txt", "step,loss\n", "run.txt: unknown format '.txt'"),
        ("cols.csv", "step,lr\n0,1\n", "cols.csv:1: missing loss column"),
        ("row.csv", "step,loss\n0,2.0\n1,x\n", "row.csv:3: 'loss' is not a number: 'x'"),
        ("bin.csv", b"step,loss\n\xff\xfe,1\n", "bin.csv: 'utf-8' codec can't decode"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, name, text, message):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    assert run_diagnose(_args(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("lr-callbacks diagnose: error: ") and message in captured.err
    assert "Traceback" not in captured.err


def test_import_diagnostics_stays_light():
    code = (
        "import sys, lr_callbacks.diagnostics, lr_callbacks.sinks, lr_callbacks.readers, "
        "lr_callbacks.diagnose; "
        "print(sorted(m for m in ('torch', 'tensorboard', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

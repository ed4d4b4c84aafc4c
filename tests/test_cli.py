"""The ``lr-callbacks`` command line: show, plot, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lr_callbacks.cli import main
from lr_callbacks.schedules import parse

SPEC = "warmup_cosine(peak_lr=0.001, warmup=10, min_lr_ratio=0.1)"


def test_show_csv_has_one_row_per_update_with_full_precision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", SPEC, "--total-steps", "100", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step,lr"
    assert len(lines) == 101
    schedule = parse(SPEC).bind(total_steps=100)
    for line in lines[1:]:
        step, lr = line.split(",")
        assert float(lr) == schedule(int(step))  # repr round-trips exactly
    assert lines[1] == "0,0.0" and lines[11] == "10,0.001"


def test_show_json_matches_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", SPEC, "--total-steps", "50", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["step"] == list(range(50))
    assert data["lr"][10] == 0.001
    assert parse(data["spec"]) == parse(SPEC)


def test_show_text_lists_phases_key_steps_and_lints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", SPEC, "--total-steps", "1000"]) == 0
    out = capsys.readouterr().out
    assert "warmup" in out and "cosine decay" in out
    assert "step         10: 0.001" in out
    assert "zero_lr_at_start" in out


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "curve.png"
    assert main(["plot", "one_cycle(peak_lr=0.01)", "--total-steps", "500", "-o", str(out), "--log"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("spec", "total", "fragment"),
    [
        ("cosine(peak_lr=-1)", "10", "peak_lr=-1"),
        ("nope(peak_lr=1)", "10", "Valid names: constant"),
        ("cosine(peak_lr=1, foo=2)", "10", "unknown argument 'foo'"),
        ("warmup_cosine(peak_lr=1, warmup=20)", "10", "warmup must not exceed"),
        ("cosine(peak_lr=1", "10", "not a schedule spec"),
        ("cosine(peak_lr=1)", "0", "total_steps must be an int >= 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(spec: str, total: str, fragment: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lr_callbacks.cli", "show", spec, "--total-steps", total],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

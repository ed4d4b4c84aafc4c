"""The range-test and diagnose examples run as a user runs them (subprocess, in a tmp dir) and say
what their docstrings promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str, cwd: Path) -> str:
    for module in ("torch", "sklearn"):
        pytest.importorskip(module)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_range_test_example(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = _run("range_test_example.py", tmp_path)
    assert "LR range test: suggested peak LR" in out and "flags: none" in out
    assert "model weights unchanged: True" in out
    assert "schedule to train with: warmup_cosine(peak_lr=" in out
    assert (tmp_path / "range_test.png").stat().st_size > 10_000


def test_diagnose_example(tmp_path: Path) -> None:
    out = _run("diagnose_example.py", tmp_path)
    assert "lr-callbacks diagnose: run.csv (456 steps; step='step', loss='loss', lr='lr')" in out
    assert "step 300  spike  [warning]" in out and "likely a bad batch (step 300)" in out
    assert "rules that fired: ['spike']" in out
    assert (tmp_path / "run.csv").read_text().startswith("step,loss,lr\n0,")

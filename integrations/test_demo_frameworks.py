"""`lr-callbacks demo --framework lightning|transformers|keras --quick`: each real framework runs the
range test and the three runs, and the same alerts fire live (the full torch demo is tests/test_demo.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lr_callbacks import cli

# The integration modules: importing them imports the library (Keras: on the torch backend).
LIBRARIES = {name: f"lr_callbacks.integrations.{name}" for name in ("lightning", "transformers", "keras")}


@pytest.mark.parametrize("framework", sorted(LIBRARIES))
def test_quick_demo_in_each_framework(
    framework: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in (LIBRARIES[framework], "torch", "sklearn", "matplotlib", "tensorboard"):
        pytest.importorskip(module)
    out = tmp_path / framework
    assert cli.main(["demo", "--out", str(out), "--framework", framework, "--quick", "--no-wandb"]) == 0
    printed = capsys.readouterr().out
    assert f"lr-callbacks demo ({framework})" in printed
    assert json.loads((out / "range_test.json").read_text())["suggested_peak_lr"] > 0
    rules = {}
    for run in ("healthy", "lr_too_high", "bad_batch"):
        lines = [json.loads(line) for line in (out / "logs" / f"{run}.jsonl").read_text().splitlines()]
        rules[run] = [line["rule"] for line in lines if line["type"] == "alert"]
        assert (out / "reports" / f"{run}.html").exists() and list((out / "tensorboard" / run).iterdir())
    assert rules["healthy"] == []
    assert "divergence" in rules["lr_too_high"]
    assert "spike" in rules["bad_batch"]
    assert "ALERT spike (warning)" in (out / "summary.txt").read_text()

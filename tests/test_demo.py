"""`lr-callbacks demo`: the full default (torch) demo in a tmp dir, its files, alerts and summary;
re-runs remove only the demo's own output; Ctrl-C exits 130 with what was written readable.
(The other frameworks' demos run in integrations/test_demo_frameworks.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lr_callbacks import cli
from lr_callbacks.demo.common import OUTPUTS, LiveConsole, clean_output


def test_clean_output_removes_only_the_demo_files(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    (tmp_path / "notes").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "old.jsonl").write_text("{}")
    (tmp_path / "summary.txt").write_text("old")
    clean_output(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me" and (tmp_path / "notes").is_dir()
    assert not (tmp_path / "logs" / "old.jsonl").exists() and not (tmp_path / "summary.txt").exists()
    assert (tmp_path / OUTPUTS[0]).exists()


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    target = tmp_path / "file"
    target.write_text("x")
    assert cli.main(["demo", "--out", str(target)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err


def test_unknown_framework_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--framework", "jax"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'jax'" in capsys.readouterr().err


def test_live_console_draws_a_bar_and_ends_its_line() -> None:
    import io

    bar, text = io.StringIO(), io.StringIO()
    console = LiveConsole("run", bar, text)
    console.log_run({"total_steps": 10})
    for step in range(10):
        console.log_metrics(step, {"loss": 1.0, "lr/group0": 0.1})
    console.close()
    assert "\r  run" in bar.getvalue() and "10/10" in bar.getvalue() and bar.getvalue().endswith("\n")


def _needs_the_demo() -> None:
    for module in ("torch", "sklearn", "matplotlib", "tensorboard"):
        pytest.importorskip(module)


def test_the_full_default_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_the_demo()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lr-callbacks-demo").mkdir()
    (tmp_path / "lr-callbacks-demo" / "yours.txt").write_text("not the demo's")
    (tmp_path / "lr-callbacks-demo" / "reports").mkdir()
    (tmp_path / "lr-callbacks-demo" / "reports" / "stale.png").write_text("old run")
    assert cli.main(["demo"]) == 0
    out, captured = tmp_path / "lr-callbacks-demo", capsys.readouterr()
    assert (out / "yours.txt").read_text() == "not the demo's" and not (
        out / "reports" / "stale.png"
    ).exists()
    assert json.loads((out / "range_test.json").read_text())["suggested_peak_lr"] > 0
    runs = ("healthy", "lr_too_high", "bad_batch")
    for run in runs:
        assert (out / "reports" / f"{run}.png").stat().st_size > 10_000
        assert "<img alt='LR and loss with alerts'" in (out / "reports" / f"{run}.html").read_text()
        assert list((out / "tensorboard" / run).glob("events.out.tfevents.*"))
    alerts = {run: _alerts(out / "logs" / f"{run}.jsonl") for run in runs}
    assert alerts["healthy"] == []
    assert {"divergence"} <= {a["rule"] for a in alerts["lr_too_high"]}
    assert "reduce the peak LR" in alerts["lr_too_high"][0]["advice"]
    spike = [a for a in alerts["bad_batch"] if a["rule"] == "spike"]
    assert spike and "bad batch" in spike[0]["cause"]
    summary = (out / "summary.txt").read_text()
    assert summary in captured.out.replace("\r", "")
    assert "tensorboard --logdir lr-callbacks-demo/tensorboard" in summary
    assert "ALERT spike (warning)" in summary and "ALERT divergence" in summary
    assert "\r  healthy" in captured.err  # the progress bar
    _check_tensorboard_tags(out / "tensorboard" / "bad_batch")


def _alerts(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert any(line["type"] == "update" for line in lines)
    return [line for line in lines if line["type"] == "alert"]


def _check_tensorboard_tags(run_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    assert {"lr_callbacks/lr/group0", "lr_callbacks/loss", "lr_callbacks/alert_level"} <= set(
        events.Tags()["scalars"]
    )
    assert "lr_callbacks/alerts/text_summary" in events.Tags()["tensors"]


def test_ctrl_c_exits_130_and_leaves_what_was_written_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_the_demo()
    original = LiveConsole.log_metrics

    def interrupt(self: LiveConsole, step: int, metrics: Any) -> None:
        if self.label == "lr_too_high" and step == 20:
            raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the second run
        original(self, step, metrics)

    monkeypatch.setattr(LiveConsole, "log_metrics", interrupt)
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--quick", "--no-wandb"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _alerts(out / "logs" / "healthy.jsonl") == [] and (out / "reports" / "healthy.html").exists()
    partial = [json.loads(line) for line in (out / "logs" / "lr_too_high.jsonl").read_text().splitlines()]
    assert max(line.get("step", -1) for line in partial) >= 19  # flushed up to the interruption
    assert (out / "reports" / "lr_too_high.png").exists()
    assert "INTERRUPTED during run lr_too_high" in (out / "summary.txt").read_text()
    assert not (out / "logs" / "bad_batch.jsonl").exists()

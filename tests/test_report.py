"""`lr-callbacks report` and `plot_run`: the picture, the HTML page, the phases."""

from __future__ import annotations

import base64
import math
import re
from itertools import pairwise
from pathlib import Path

import pytest

from lr_callbacks.cli import main
from lr_callbacks.controller import Controller
from lr_callbacks.dashboards import JsonlMetricsSink
from lr_callbacks.run_report import RunRecorder, derive_phases

pytest.importorskip("matplotlib")

SPEC = "wsd(peak_lr=0.003, warmup=0.1, decay=0.2)"


def live_run(sinks: list[object], n: int = 300) -> Controller:
    controller = Controller(SPEC, sinks=sinks, total_steps=n)
    controller.start(None, None, [0.003])
    for t in range(n):
        loss = 3.0 * 0.995**t * (1 + 0.02 * math.sin(7 * t))
        controller.observe(t, 40.0 if t == 200 else loss, controller.lrs(t))
        if t % 50 == 49:
            controller.observe_eval(t, {"val_loss": 2.5})
    controller.close()
    return controller


@pytest.mark.parametrize(
    ("lrs", "expected"),
    [
        ([0.1 * min(t + 1, 10) / 10 for t in range(50)], ["warmup", "stable"]),
        ([1.0] * 20 + [1.0 - 0.04 * t for t in range(20)], ["stable", "decay"]),
        ([1.0] * 30 + [0.1] * 30 + [0.01] * 30, ["stable"]),  # step drops are jumps, not phases
        ([0.5 * (1 + math.cos(math.pi * t / 100)) for t in range(100)], ["decay"]),
        ([min(t, 50) / 50 if t < 50 else 1 - (t - 50) / 60 for t in range(100)], ["warmup", "decay"]),
    ],
)
def test_phases_read_off_the_lr_curve(lrs: list[float], expected: list[str]) -> None:
    phases = derive_phases(range(len(lrs)), lrs)
    assert [name for _, _, name in phases] == expected
    assert phases[0][0] == 0 and phases[-1][1] == len(lrs) - 1
    assert all(a[1] == b[0] for a, b in pairwise(phases))


def test_the_report_command_draws_the_live_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.jsonl"
    controller = live_run([JsonlMetricsSink(path)])
    assert [a.rule for a in controller.alerts] == ["spike"]
    assert main(["report", str(path), "-o", str(tmp_path / "run.png"), "--log-loss"]) == 0
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "1 alert(s)" in capsys.readouterr().out
    assert main(["report", str(path), "-o", str(tmp_path / "run.html")]) == 0
    page = (tmp_path / "run.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert png is not None and base64.b64decode(png.group(1))[:4] == b"\x89PNG"
    alert = controller.alerts[0]
    for text in (alert.message, alert.cause, alert.advice, "wsd(peak_lr=0.003", "warmup 0-30"):
        assert text.replace("'", "&#x27;") in page, text


def test_the_report_of_a_csv_runs_the_diagnostics(tmp_path: Path) -> None:
    rows = ["step,loss,lr"] + [f"{t},{float('nan') if t == 40 else 2 - t / 100},{0.01}" for t in range(60)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    assert main(["report", str(tmp_path / "m.csv"), "-o", str(tmp_path / "m.html")]) == 0
    assert "nonfinite" in (tmp_path / "m.html").read_text()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.png")]) == 2
    assert "lr-callbacks report: error:" in capsys.readouterr().err


def test_the_recorder_writes_the_report_at_close(tmp_path: Path) -> None:
    live_run([RunRecorder(tmp_path / "end.html")])
    assert "spike" in (tmp_path / "end.html").read_text()

"""The duck-typed metric sinks and the controller's metric stream; faults never reach training."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import pytest

from lr_callbacks.controller import Controller
from lr_callbacks.dashboards import (
    JsonlMetricsSink,
    LossSmoother,
    TensorBoardSink,
    WandbSink,
    alert_level,
    dashboard_sinks,
)
from lr_callbacks.diagnostics import Alert
from lr_callbacks.readers import read_run
from lr_callbacks.sinks import ListSink

SPEC = "warmup_cosine(peak_lr=0.1, warmup=0.1)"


class RecordingWriter:
    """Records the calls a SummaryWriter would get (what the real one writes: integrations/test_tensorboard.py)."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []
        self.texts: list[tuple[str, str, int]] = []
        self.layouts: list[Any] = []
        self.flushes = 0

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def add_text(self, tag: str, text: str, step: int) -> None:
        self.texts.append((tag, text, step))

    def add_custom_scalars(self, layout: Any) -> None:
        self.layouts.append(layout)

    def flush(self) -> None:
        self.flushes += 1


class FailingWriter(RecordingWriter):
    """Every call fails with ENOSPC, as on a full disk."""

    def add_scalar(self, *args: Any) -> None:
        raise OSError(28, "No space left on device")

    add_text = add_custom_scalars = flush = add_scalar  # type: ignore[assignment]


def run(sinks: list[Any], n: int = 40, nan_at: int = 30) -> Controller:
    controller = Controller(SPEC, sinks=sinks, total_steps=n)
    controller.start(None, None, [0.1])
    for t in range(n):
        controller.observe(t, float("nan") if t == nan_at else 2.0 - 0.01 * t, controller.lrs(t))
    controller.observe_eval(n - 1, {"val_loss": 1.7})
    controller.close()
    return controller


def test_the_controller_sends_every_update_once_with_the_layout_once() -> None:
    writer = RecordingWriter()
    controller = run([TensorBoardSink(writer)])
    loss_steps = [step for tag, _, step in writer.scalars if tag == "lr_callbacks/loss"]
    assert loss_steps == list(range(40))
    assert len(writer.layouts) == 1
    levels = {step: v for tag, v, step in writer.scalars if tag == "lr_callbacks/alert_level"}
    assert levels[30] == 4 and sum(levels.values()) == 4
    assert [(tag, step) for tag, _, step in writer.texts] == [
        ("lr_callbacks/run", 0),
        ("lr_callbacks/alerts", 30),
    ]
    assert [(t, s) for t, _, s in writer.scalars if t == "lr_callbacks/val_loss"] == [
        ("lr_callbacks/val_loss", 39)
    ]
    assert controller.alerts[0].advice in writer.texts[1][1]
    assert writer.flushes >= 2  # after the alert, and at close


def test_only_rank_zero_writes() -> None:
    writer = RecordingWriter()
    controller = Controller(SPEC, sinks=[TensorBoardSink(writer)], total_steps=10)
    controller.start(None, None, [0.1], rank=1, world_size=2)
    for t in range(10):
        controller.observe(t, 1.0, controller.lrs(t))
    controller.close()
    assert writer.scalars == [] and writer.texts == []


def test_a_sink_added_after_start_gets_the_run_and_the_rest() -> None:
    controller = Controller(SPEC, total_steps=10)
    controller.start(None, None, [0.1])
    writer = RecordingWriter()
    controller.observe(0, 1.0, controller.lrs(0))
    controller.add_metric_sink(TensorBoardSink(writer))
    controller.observe(1, 1.0, controller.lrs(1))
    assert [step for tag, _, step in writer.scalars if tag == "lr_callbacks/loss"] == [1]
    assert writer.texts[0][0] == "lr_callbacks/run"
    with pytest.raises(TypeError, match="add_metric_sink: the sink needs log_metrics"):
        controller.add_metric_sink(ListSink())


def test_a_resumed_run_writes_the_same_smoothed_loss_as_an_uninterrupted_one() -> None:
    def observe(controller: Controller, steps: range) -> None:
        for t in steps:
            controller.observe(t, 2.0 + math.sin(t), controller.lrs(t))

    def smoothed(writer: RecordingWriter) -> list[tuple[str, float, int]]:
        return [row for row in writer.scalars if row[0].startswith("lr_callbacks/loss_smoothed")]

    whole = RecordingWriter()
    controller = Controller(SPEC, sinks=[TensorBoardSink(whole)], total_steps=40)
    controller.start(None, None, [0.1])
    observe(controller, range(40))
    first, second = RecordingWriter(), RecordingWriter()
    controller = Controller(SPEC, sinks=[TensorBoardSink(first)], total_steps=40)
    controller.start(None, None, [0.1])
    observe(controller, range(25))
    state = json.loads(json.dumps(controller.state_dict(), allow_nan=False))
    resumed = Controller(SPEC, sinks=[TensorBoardSink(second)], total_steps=40)
    resumed.load_state_dict(state)  # before start, as Lightning does
    resumed.start(None, None, [0.1])
    observe(resumed, range(25, 40))
    assert smoothed(whole) and smoothed(first) + smoothed(second) == smoothed(whole)
    old = {key: value for key, value in state.items() if key != "smoother"}
    Controller(SPEC).load_state_dict(old)  # a state saved before the smoother was kept still loads


def test_smoothing_skips_non_finite_and_the_band_holds_the_mean() -> None:
    smoother = LossSmoother(alpha=0.2)
    values = [smoother.update(x) for x in (1.0, 3.0, math.inf, 2.0)]
    assert values[0] == (1.0, 1.0, 1.0) and values[2] == values[1]
    assert all(lo <= mean <= hi for mean, lo, hi in values if values)  # type: ignore[misc]
    assert LossSmoother().update(math.nan) is None
    with pytest.raises(ValueError, match="alpha must be in"):
        LossSmoother(alpha=0)
    assert alert_level([]) == 0 and alert_level([Alert("spike", "warning", 1, "m")]) == 2


class Run:
    """Records what a wandb run is asked (the real offline run: integrations/test_wandb.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("define_metric", args, kwargs))

    def log(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("log", args, kwargs))

    def alert(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("alert", args, kwargs))


def test_wandb_sink_uses_the_host_step_key_and_maps_levels() -> None:
    class Table:  # stands in for wandb.Table (whether or not wandb is imported elsewhere)
        def __init__(self, columns: list[str], data: list[list[object]]) -> None:
            self.columns, self.data = columns, data

    wandb_run = Run()
    sink = WandbSink(wandb_run, "trainer/global_step", wait_duration=60, table=Table)
    sink.log_metrics(3, {"loss": 1.0})
    sink.emit(Alert("divergence", "critical", 3, "up", "LR too high", "reduce the LR 3-10x"))
    assert wandb_run.calls[0] == (
        "define_metric",
        ("lr_callbacks/*",),
        {"step_metric": "trainer/global_step"},
    )
    assert wandb_run.calls[1] == ("log", ({"lr_callbacks/loss": 1.0, "trainer/global_step": 3},), {})
    name, (row,), _ = wandb_run.calls[2]
    assert name == "log" and row["trainer/global_step"] == 3
    assert row["lr_callbacks/alerts"].data[0][:3] == [3, "divergence", "critical"]
    name, _, kwargs = wandb_run.calls[3]
    assert name == "alert" and kwargs["level"] == "ERROR" and kwargs["wait_duration"] == 60
    assert kwargs["title"] == "lr_callbacks: divergence" and "reduce the LR" in kwargs["text"]


def test_jsonl_metrics_are_read_back_by_the_offline_reader(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    run([JsonlMetricsSink(path)])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["type"] == "run" and records[0]["schedule"].startswith("warmup_cosine")
    assert [r["step"] for r in records if r["type"] == "update"] == list(range(40))
    assert [r["loss"] for r in records if r["type"] == "update"][30] == "NaN"
    assert [(r["rule"], r["step"]) for r in records if r["type"] == "alert"] == [("nonfinite", 30)]
    log = read_run(path)
    assert log.steps == list(range(40)) and math.isnan(log.losses[30]) and log.evals == [(39, 1.7)]
    assert log.keys["lr"] == "lr/group0"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_reported_once_and_the_other_sinks_go_on(caplog: pytest.LogCaptureFixture) -> None:
    writer, kept = RecordingWriter(), ListSink()
    with caplog.at_level(logging.ERROR, logger="lr_callbacks"):
        controller = run([JsonlMetricsSink("/dev/full", flush_every=1), TensorBoardSink(FailingWriter()),
                          TensorBoardSink(writer), kept])  # fmt: skip
    reports = [r.getMessage() for r in caplog.records if r.name == "lr_callbacks"]
    assert len(reports) == 2 and all("No space left on device" in m for m in reports), reports
    assert [step for tag, _, step in writer.scalars if tag == "lr_callbacks/loss"] == list(range(40))
    assert [a.step for a in kept.alerts] == [a.step for a in controller.alerts] == [30]


def test_an_unwritable_tensorboard_dir_is_reported_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    def open_writer(log_dir: str) -> Any:
        os.makedirs(log_dir)  # the real failure: a path below a file
        return RecordingWriter()

    with caplog.at_level(logging.ERROR, logger="lr_callbacks"):
        sinks = dashboard_sinks(tensorboard_dir=blocker / "tb", open_writer=open_writer)
    assert sinks == [] and "cannot write TensorBoard logs" in caplog.text


def test_bad_clients_are_named() -> None:
    with pytest.raises(TypeError, match="WandbSink: run needs"):
        WandbSink(RecordingWriter())
    with pytest.raises(TypeError, match="JsonlMetricsSink: path must be"):
        JsonlMetricsSink(3)  # type: ignore[arg-type]

"""The TensorBoard dashboards against a real ``SummaryWriter``, read back with TensorBoard's own reader."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tensorboard")
torch = pytest.importorskip("torch")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from lr_callbacks.controller import Controller  # noqa: E402
from lr_callbacks.dashboards import JsonlMetricsSink, TensorBoardSink, tensorboard_layout  # noqa: E402
from lr_callbacks.integrations.tensorboard import open_writer, tensorboard_sink  # noqa: E402
from lr_callbacks.integrations.torch import LRCallback  # noqa: E402
from lr_callbacks.sinks import ListSink  # noqa: E402

SPEC = "warmup_cosine(peak_lr=0.1, warmup=0.1)"
NAN_STEP = 70


def losses(n: int = 80) -> list[float]:
    return [float("nan") if t == NAN_STEP else 2.0 * 0.99**t + 0.05 * math.sin(t) for t in range(n)]


def drive(sinks: list[Any], n: int = 80) -> Controller:
    controller = Controller(SPEC, sinks=sinks, total_steps=n)
    controller.start(None, None, [0.1, 0.01])
    for t, loss in enumerate(losses(n)):
        controller.observe(t, loss, controller.lrs(t))
        if t == 39:
            controller.observe_eval(t, {"val_loss": 1.5})
    controller.close()
    return controller


def read(log_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def texts(events: EventAccumulator, tag: str) -> list[tuple[int, str]]:
    found = []
    for event in events.Tensors(tag):
        value = tensor_util.make_ndarray(event.tensor_proto).reshape(-1)[0]
        found.append((event.step, value.decode() if isinstance(value, bytes) else str(value)))
    return found


def test_every_tag_step_and_text_is_in_the_event_file(tmp_path: Path) -> None:
    controller = drive([tensorboard_sink(tmp_path)])
    events = read(tmp_path)
    scalars = {tag: events.Scalars(tag) for tag in events.Tags()["scalars"]}
    per_update = [
        "lr_callbacks/alert_level", "lr_callbacks/loss", "lr_callbacks/lr/group0", "lr_callbacks/lr/group1",
        "lr_callbacks/lr_log10/group0", "lr_callbacks/lr_log10/group1", "lr_callbacks/loss_smoothed",
        "lr_callbacks/loss_smoothed/lower", "lr_callbacks/loss_smoothed/upper",
    ]  # fmt: skip
    assert sorted(scalars) == sorted([*per_update, "lr_callbacks/val_loss"])
    for tag in per_update:
        assert [e.step for e in scalars[tag]] == list(range(80)), tag
    assert [(e.step, e.value) for e in scalars["lr_callbacks/val_loss"]] == [(39, 1.5)]
    schedule = controller.bound
    assert schedule is not None
    assert [e.value for e in scalars["lr_callbacks/lr/group0"]] == pytest.approx(
        [schedule(t) for t in range(80)]
    )
    assert [e.value for e in scalars["lr_callbacks/lr/group1"]] == pytest.approx(
        [schedule(t) / 10 for t in range(80)]
    )
    assert scalars["lr_callbacks/lr_log10/group0"][40].value == pytest.approx(math.log10(schedule(40)))
    loss = [e.value for e in scalars["lr_callbacks/loss"]]
    assert math.isnan(loss[NAN_STEP]) and loss[:NAN_STEP] == pytest.approx(losses()[:NAN_STEP])
    smoothed = {t: e.value for t, e in enumerate(scalars["lr_callbacks/loss_smoothed"])}
    lower, upper = scalars["lr_callbacks/loss_smoothed/lower"], scalars["lr_callbacks/loss_smoothed/upper"]
    assert all(
        lo.value <= smoothed[t] <= up.value for t, (lo, up) in enumerate(zip(lower, upper, strict=True))
    )
    assert smoothed[NAN_STEP] == smoothed[NAN_STEP - 1]  # a NaN does not poison the smoothing
    levels = {e.step: e.value for e in scalars["lr_callbacks/alert_level"]}
    assert levels[NAN_STEP] == 4 and sum(levels.values()) == 4  # the one alert: critical
    # The alerts, as Markdown in the Text tab, at their steps; the run's schedule at step 0.
    [(step, text)] = texts(events, "lr_callbacks/alerts/text_summary")
    alert = controller.alerts[0]
    assert step == NAN_STEP == alert.step and alert.rule == "nonfinite"
    for part in (
        "**nonfinite**",
        "(critical)",
        f"at step {NAN_STEP}",
        alert.message,
        alert.cause,
        alert.advice,
    ):
        assert part in text
    [(step, run)] = texts(events, "lr_callbacks/run/text_summary")
    assert step == 0 and SPEC.split("(")[0] in run and "total_steps: 80" in run


def test_the_custom_scalars_layout_is_written_once(tmp_path: Path) -> None:
    from tensorboard.plugins.custom_scalar import layout_pb2

    drive([tensorboard_sink(tmp_path)])
    events = read(tmp_path)
    [config] = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout()
    layout.ParseFromString(tensor_util.make_ndarray(config.tensor_proto).reshape(-1)[0])
    [category] = layout.category
    charts = {chart.title: chart for chart in category.chart}
    expected = tensorboard_layout()["lr_callbacks"]
    assert set(charts) == set(expected)
    both = charts["LR (log10) and loss, one axis; alert level marks the alerts"].multiline.tag
    tags = events.Tags()["scalars"]
    import re

    for pattern in both:  # every regex of the shared chart matches a written tag
        assert any(re.search(pattern, tag) for tag in tags), pattern
    assert {t for t in tags if any(re.search(p, t) for p in both)} >= {
        "lr_callbacks/loss", "lr_callbacks/lr_log10/group0", "lr_callbacks/alert_level"
    }  # fmt: skip
    margin = charts["Smoothed loss with its margin (EMA ± 2 std)"].margin.series
    assert [(s.value, s.lower, s.upper) for s in margin] == [
        ("lr_callbacks/loss_smoothed", "lr_callbacks/loss_smoothed/lower", "lr_callbacks/loss_smoothed/upper")
    ]


def test_the_torch_adapter_writes_to_a_given_writer_or_its_own_dir(tmp_path: Path) -> None:
    for kind in ("writer", "tensorboard_dir"):
        log_dir = tmp_path / kind
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        writer = open_writer(log_dir) if kind == "writer" else None
        callback = LRCallback(
            SPEC,
            optimizer,
            total_steps=20,
            writer=writer,
            tensorboard_dir=log_dir if writer is None else None,
        )
        for _ in range(20):
            loss = model(torch.ones(4, 2)).pow(2).mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            callback.step(loss)
        callback.close()
        if writer is not None:
            writer.close()
        steps = [e.step for e in read(log_dir).Scalars("lr_callbacks/lr/group0")]
        assert steps == list(range(20)), kind


class FullDisk:
    """A writer whose every call fails as a full disk does (a real one cannot be made to fill up)."""

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise OSError(28, "No space left on device")

    add_scalar = add_text = add_custom_scalars = flush = close = _fail


def test_a_full_disk_or_an_unwritable_dir_never_stops_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    jsonl, kept = tmp_path / "run.jsonl", ListSink()
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    full = FullDisk()
    with caplog.at_level("ERROR", logger="lr_callbacks"):
        callback = LRCallback(
            SPEC, optimizer, total_steps=20, writer=full, tensorboard_dir=blocker / "tb",
            sinks=[JsonlMetricsSink(jsonl), kept],
        )  # fmt: skip
        for t in range(20):
            loss = model(torch.ones(4, 2)).pow(2).mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            callback.step(loss * float("nan") if t in (12, 13) else loss)
        callback.close()
    assert callback.step_count == 20 and full.calls > 20  # training went on; the writer was tried each time
    reports = [r.getMessage() for r in caplog.records if r.name == "lr_callbacks"]
    assert sum("No space left on device" in m for m in reports) == 1, reports  # reported once
    assert sum("cannot write TensorBoard logs" in m for m in reports) == 1, reports
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    alerts = [r for r in records if r["type"] == "alert"]
    assert [(a["rule"], a["step"]) for a in alerts] == [(a.rule, a.step) for a in callback.alerts] != []
    assert [a.step for a in kept.alerts] == [a["step"] for a in alerts]
    assert [r["step"] for r in records if r["type"] == "update"] == list(range(20))
    assert os.path.isfile(blocker)


def test_a_writer_without_the_methods_is_named() -> None:
    with pytest.raises(TypeError, match="TensorBoardSink: writer needs the methods"):
        TensorBoardSink(object())


def test_the_keras_adapter_opens_its_own_writer_and_writes_the_report(tmp_path: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras, as the adapter does
    keras = pytest.importorskip("keras")
    pytest.importorskip("matplotlib")
    import numpy as np

    from lr_callbacks.integrations.keras import LRCallback as KerasLRCallback

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    callback = KerasLRCallback(SPEC, tensorboard_dir=tmp_path / "tb", report_path=tmp_path / "report.png")
    x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    steps = [e.step for e in read(tmp_path / "tb").Scalars("lr_callbacks/lr/group0")]
    assert steps == list(range(16))
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"

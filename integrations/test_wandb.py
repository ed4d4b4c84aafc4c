"""The W&B dashboards against a real offline run, read back from the run's ``.wandb`` file (no mock)."""

from __future__ import annotations

import json
import logging
import math
import struct
from pathlib import Path
from typing import Any

import pytest

wandb = pytest.importorskip("wandb")
pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from wandb.proto import wandb_internal_pb2  # noqa: E402

from lr_callbacks.controller import Controller  # noqa: E402
from lr_callbacks.dashboards import JsonlMetricsSink, WandbSink  # noqa: E402
from lr_callbacks.integrations.lightning import LRCallback  # noqa: E402
from lr_callbacks.integrations.wandb import wandb_sink  # noqa: E402
from lr_callbacks.sinks import ListSink  # noqa: E402

SPEC = "warmup_cosine(peak_lr=0.1, warmup=0.1)"


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # W&B keeps its settings in a process-wide singleton made at the first wandb.init (another
    # test may have made it already, e.g. the demo's offline runs): start from a fresh one.
    wandb.teardown()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    return tmp_path


def read_records(root: Path) -> list[Any]:
    """Every record of the run: a 7-byte header, then 32 KiB blocks of LevelDB-log records."""
    # Offline, wandb.finish() can return before the service has written the file's last block;
    # teardown waits for the service to exit, and with it for the file to be whole.
    wandb.teardown()
    [path] = list(root.rglob("offline-run-*/run-*.wandb"))
    data, records, chunk, offset = path.read_bytes(), [], b"", 7
    while offset + 7 <= len(data):
        if (offset % 32768) + 7 > 32768:  # a block's tail too short for a header is padding
            offset += 32768 - offset % 32768
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[offset : offset + 7])
        if kind == 0 and length == 0:
            offset += 32768 - offset % 32768
            continue
        chunk += data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # full, or the last piece
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
        elif kind == 2:
            chunk = data[offset - length : offset]
    assert records and records[-1].WhichOneof("record_type") == "exit", (
        "the run file ends before its exit record"
    )
    return records


def history(records: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows


def drive(sinks: list[Any], n: int = 60, nan_at: int = 50) -> Controller:
    controller = Controller(SPEC, sinks=sinks, total_steps=n)
    controller.start(None, None, [0.1, 0.01])
    for t in range(n):
        loss = float("nan") if t == nan_at else 2.0 * 0.98**t
        controller.observe(t, loss, controller.lrs(t))
    controller.close()
    return controller


def test_lr_loss_and_alerts_reach_the_offline_run_file(offline: Path) -> None:
    controller = drive([wandb_sink(project="lr-callbacks-test")])  # starts a run and finishes it
    records = read_records(offline)
    kinds = [r.WhichOneof("record_type") for r in records]
    assert "history" in kinds and "alert" in kinds and "metric" in kinds
    metrics = {
        (r.metric.name, r.metric.glob_name, r.metric.step_metric)
        for r in records
        if r.WhichOneof("record_type") == "metric"
    }
    assert ("lr_callbacks/step", "", "") in metrics
    assert ("", "lr_callbacks/*", "lr_callbacks/step") in metrics
    rows = [row for row in history(records) if "lr_callbacks/loss" in row]
    assert [row["lr_callbacks/step"] for row in rows] == list(range(60))
    schedule = controller.bound
    assert schedule is not None
    assert [row["lr_callbacks/lr/group0"] for row in rows] == pytest.approx([schedule(t) for t in range(60)])
    assert [row["lr_callbacks/lr/group1"] for row in rows] == pytest.approx(
        [schedule(t) / 10 for t in range(60)]
    )
    assert rows[10]["lr_callbacks/loss"] == pytest.approx(2.0 * 0.98**10)
    assert rows[50]["lr_callbacks/alert_level"] == 4 and sum(r["lr_callbacks/alert_level"] for r in rows) == 4
    [alert] = [r.alert for r in records if r.WhichOneof("record_type") == "alert"]
    assert (alert.title, alert.level) == ("lr_callbacks: nonfinite", "ERROR")
    assert controller.alerts[0].message in alert.text and controller.alerts[0].advice in alert.text
    assert alert.wait_duration == 300_000  # milliseconds in the record
    # The alerts table, visible offline: a table file referenced from the history, at the alert's step.
    [table_row] = [row for row in history(records) if "lr_callbacks/alerts/_type" in row]
    assert table_row["lr_callbacks/step"] == 50 and table_row["lr_callbacks/alerts/_type"] == "table-file"
    [table_file] = list(offline.rglob("offline-run-*/files/" + table_row["lr_callbacks/alerts/path"]))
    table = json.loads(table_file.read_text())
    assert table["columns"] == ["step", "rule", "severity", "message", "cause", "advice"]
    assert [row[:3] for row in table["data"]] == [[50, "nonfinite", "critical"]]


def test_lightning_logs_to_its_wandb_logger_on_trainer_global_step(offline: Path, tmp_path: Path) -> None:
    from test_lightning import TinyModel, trainer_args

    logger = pl.loggers.WandbLogger(project="lr-callbacks-test", save_dir=str(tmp_path))
    callback = LRCallback(SPEC)
    trainer = pl.Trainer(**trainer_args(tmp_path, logger=logger, max_epochs=1), callbacks=[callback])
    trainer.fit(TinyModel(poison_at=12))
    wandb.finish()
    records = read_records(offline)
    rows = [row for row in history(records) if "lr_callbacks/loss" in row]
    assert [row["trainer/global_step"] for row in rows] == list(range(13))  # stopped at the NaN
    assert all("lr_callbacks/lr/group0" in row and "lr_callbacks/lr/group1" in row for row in rows)
    assert math.isnan(rows[12]["lr_callbacks/loss"])
    metrics = {
        (r.metric.glob_name, r.metric.step_metric) for r in records if r.WhichOneof("record_type") == "metric"
    }
    assert ("lr_callbacks/*", "trainer/global_step") in metrics
    titles = [r.alert.title for r in records if r.WhichOneof("record_type") == "alert"]
    assert (
        titles == [f"lr_callbacks: {a.rule}" for a in callback.alerts]
        and titles[-1] == "lr_callbacks: nonfinite"
    )
    # Not written twice: nothing of ours went through WandbLogger.log_metrics.
    assert sum("lr_callbacks/lr/group0" in row for row in history(records)) == 13


class RaisingRun:
    """A run whose calls fail like an unreachable server; the real offline run cannot be made to."""

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("wandb: network error (api.wandb.ai unreachable)")

    log = alert = define_metric


def test_a_raising_wandb_run_never_stops_training(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    jsonl, kept = tmp_path / "run.jsonl", ListSink()
    with caplog.at_level(logging.ERROR, logger="lr_callbacks"):
        controller = drive([WandbSink(RaisingRun()), JsonlMetricsSink(jsonl), kept])
    reports = [r.getMessage() for r in caplog.records if r.name == "lr_callbacks"]
    assert sum("unreachable" in m for m in reports) == 1, reports
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "update"] == list(range(60))
    assert [(r["rule"], r["step"]) for r in records if r["type"] == "alert"] == [("nonfinite", 50)]
    assert [a.step for a in kept.alerts] == [a.step for a in controller.alerts] == [50]


def test_a_run_without_the_methods_is_named() -> None:
    with pytest.raises(TypeError, match="WandbSink: run needs the methods"):
        WandbSink(object())


@pytest.mark.parametrize("wired", ["report_to", "WandbCallback added after LRCallback"])
def test_hf_trainer_logs_into_the_wandb_callbacks_run_on_train_global_step(
    offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wired: str
) -> None:
    pytest.importorskip("transformers")
    from test_transformers import TinyGPT2, make_trainer, two_groups

    from lr_callbacks.diagnostics import NonFiniteRule
    from lr_callbacks.integrations.transformers import LRCallback as HFLRCallback
    from lr_callbacks.schedules import parse

    monkeypatch.setenv("WANDB_PROJECT", "lr-callbacks-test")
    spec, n, nan_at = "warmup_cosine(peak_lr=0.01, warmup=3, min_lr_ratio=0.1)", 16, 12
    model = TinyGPT2(poison_at=nan_at)  # one micro-batch per update: the loss of update 12 is NaN
    callback = HFLRCallback(spec, rules=[NonFiniteRule()], stop_on=())
    report_to = ["wandb"] if wired == "report_to" else []
    trainer, probe = make_trainer(
        tmp_path, callback, model, optimizers=(two_groups(model), None), max_steps=n, report_to=report_to
    )
    if not report_to:  # its on_train_begin, which opens the run, comes after LRCallback's
        from transformers.integrations import WandbCallback

        trainer.add_callback(WandbCallback)
    trainer.train()
    wandb.finish()  # HF's callback leaves its run open (until exit)
    assert len(list(offline.rglob("offline-run-*"))) == 1  # our sink wrote into HF's run, made none
    records = read_records(offline)
    rows = history(records)
    ours = {row["train/global_step"]: row for row in rows if "lr_callbacks/loss" in row}
    hf = {row["train/global_step"]: row for row in rows if "train/loss" in row}
    steps = list(range(1, n + 1))  # HF logs update t at global_step t + 1
    assert sorted(ours) == sorted(hf) == steps
    assert sum("lr_callbacks/lr/group0" in row for row in rows) == n  # once per update, not twice
    schedule = parse(spec).bind(total_steps=n, steps_per_epoch=6)
    assert [ours[k]["lr_callbacks/lr/group0"] for k in steps] == [schedule(k - 1) for k in steps]
    assert [lrs[0] for lrs in probe.lrs] == [schedule(t) for t in range(n)]
    assert [ours[k]["lr_callbacks/lr/group1"] for k in steps] == pytest.approx(
        [lrs[1] for lrs in probe.lrs], rel=1e-12
    )
    assert [ours[k]["lr_callbacks/lr/group0"] for k in steps] == [hf[k]["train/learning_rate"] for k in steps]
    losses = [(ours[k]["lr_callbacks/loss"], hf[k]["train/loss"]) for k in steps]
    assert [a for a, _ in losses[:nan_at]] == pytest.approx([b for _, b in losses[:nan_at]], rel=1e-6)
    assert all(math.isfinite(a) for a, _ in losses[:nan_at])
    assert math.isnan(losses[nan_at][0]) and math.isnan(losses[nan_at][1])
    assert [k for k in steps if ours[k]["lr_callbacks/alert_level"] > 0] == [nan_at + 1]
    metrics = {
        (r.metric.glob_name, r.metric.step_metric) for r in records if r.WhichOneof("record_type") == "metric"
    }
    assert ("lr_callbacks/*", "train/global_step") in metrics
    assert [(a.rule, a.step) for a in callback.alerts] == [("nonfinite", nan_at)]
    [alert] = [r.alert for r in records if r.WhichOneof("record_type") == "alert"]
    assert (alert.title, alert.level) == ("lr_callbacks: nonfinite", "ERROR")
    [table_row] = [row for row in rows if "lr_callbacks/alerts/_type" in row]
    assert table_row["train/global_step"] == nan_at + 1

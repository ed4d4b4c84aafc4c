"""Offline readers: CSV, JSONL/JSON, W&B exports; bad input names the file and line."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from lr_callbacks.readers import RunLogError, read_run


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_gaps_for_evaluations(tmp_path):
    path = _write(tmp_path / "run.csv", "step,loss,lr,val_loss\n0,2.3,0.001,\n1,nan,0.001,1.9\n")
    log = read_run(path)
    assert log.steps == [0, 1] and math.isnan(log.losses[1]) and log.lrs == [0.001, 0.001]
    assert log.evals == [(1, 1.9)] and log.keys == {
        "step": "step", "loss": "loss", "lr": "lr", "val": "val_loss",
    }  # fmt: skip


def test_lightning_csv_rows_are_merged_by_step(tmp_path):
    text = (
        "epoch,step,train_loss,lr-AdamW,val_loss\n"
        "0,0,2.3,,\n0,0,,0.001,\n0,1,2.2,,\n0,1,,,2.25\n0,2,2.1,0.002,\n"
    )
    log = read_run(_write(tmp_path / "metrics.csv", text))
    assert log.steps == [0, 1, 2] and log.lrs == [0.001, None, 0.002]
    assert log.evals == [(1, 2.25)] and log.keys["lr"] == "lr-AdamW"


def test_wandb_history_export(tmp_path):
    text = (
        '"Step","run-7 - train/loss","run-7 - train/loss__MIN","run-7 - train/loss__MAX",'
        '"run-7 - train/learning_rate"\n"10","2.0","1.9","2.1","0.0003"\n"20","1.8","1.7","1.9","0.0003"\n'
    )
    log = read_run(_write(tmp_path / "wandb_export.csv", text))
    assert log.steps == [10, 20] and log.losses == [2.0, 1.8] and log.lrs == [3e-4, 3e-4]


def test_jsonl_and_key_overrides(tmp_path):
    rows = [{"it": 0, "my_loss": 2.3, "my_lr": 0.1}, {"it": 1, "my_loss": 2.2, "ev": 2.0}]
    text = "\n".join(json.dumps(r) for r in rows) + "\n\n"
    path = _write(tmp_path / "run.jsonl", text.replace('"it"', '"step"'))
    log = read_run(path, loss_key="my_loss", lr_key="my_lr", val_key="ev")
    assert log.losses == [2.3, 2.2] and log.lrs == [0.1, None] and log.evals == [(1, 2.0)]


def test_hf_trainer_state_json(tmp_path):
    state = {"log_history": [
        {"step": 5, "loss": 2.0, "learning_rate": 5e-5, "epoch": 0.1},
        {"step": 10, "loss": 1.9, "learning_rate": 4e-5},
        {"step": 10, "eval_loss": 1.95},
        {"train_runtime": 12.0, "step": 10},
    ]}  # fmt: skip
    log = read_run(_write(tmp_path / "trainer_state.json", json.dumps(state)))
    assert log.steps == [5, 10] and log.evals == [(10, 1.95)] and log.keys["val"] == "eval_loss"


def test_integral_float_steps_are_accepted(tmp_path):
    log = read_run(_write(tmp_path / "r.csv", "step,loss\n1.0,2.0\n2.0,1.9\n"))
    assert log.steps == [1, 2] and log.lrs == [None, None]


BAD = [
    ("missing.csv", None, r"missing\.csv: no such file or directory"),
    ("run.parquet", "x", r"run\.parquet: unknown format '\.parquet'; expected a \.csv"),
    ("nostep.csv", "loss,lr\n2.0,0.1\n", r"nostep\.csv:1: missing step column; expected one of"),
    ("noloss.csv", "step,lr\n0,0.1\n", r"noloss\.csv:1: missing loss column; .*found \['lr', 'step'\]"),
    ("badloss.csv", "step,loss\n0,2.0\n1,abc\n", r"badloss\.csv:3: 'loss' is not a number: 'abc'"),
    ("badstep.csv", "step,loss\n0,2.0\n1.5,2.0\n", r"badstep\.csv:3: 'step' must be a whole number"),
    ("negative.csv", "step,loss\n-1,2.0\n", r"negative\.csv:2: 'step' must be a whole number >= 0"),
    ("short.csv", "step,loss,lr\n0,2.0,0.1\n1,2.0\n", r"short\.csv:3: expected 3 fields, got 2"),
    ("empty.csv", "", r"empty\.csv: empty file, expected a header line"),
    ("noval.csv", "step,loss\n0,2\n", r"noval\.csv:1: no val column 'acc'; found"),
    ("onlyval.csv", "step,loss,val_loss\n0,,2.0\n", r"onlyval\.csv: no training loss values found"),
    ("bad.jsonl", '{"step": 0, "loss": 2}\n{"step": 1, "loss": \n', r"bad\.jsonl:2: invalid JSON"),
    ("list.jsonl", "[1, 2]\n", r"list\.jsonl:1: expected a JSON object, got list"),
    ("strloss.jsonl", '{"step": 0, "loss": "high"}\n', r"strloss\.jsonl:1: 'loss' is not a number"),
    ("obj.json", '{"a": 1}', r"obj\.json: expected a list of records or a trainer_state\.json"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "match"), BAD)
def test_bad_input_names_file_and_line(tmp_path, name, text, match):
    path = tmp_path / name
    if text is not None:
        _write(path, text)
    with pytest.raises(RunLogError, match=match):
        read_run(path, val_key="acc" if name == "noval.csv" else None)


def test_empty_directory_is_not_a_tensorboard_run(tmp_path):
    pytest.importorskip("tensorboard")
    with pytest.raises(RunLogError, match=r"no TensorBoard event files"):
        read_run(tmp_path)


def test_missing_tensorboard_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing.event_accumulator", None)
    with pytest.raises(ImportError, match=r"pip install 'lr-callbacks\[tensorboard\]'"):
        read_run(tmp_path)


def test_resumed_log_with_repeated_steps_keeps_the_last_value(tmp_path):
    text = "step,loss,lr\n0,2.3,0.1\n1,2.2,0.1\n2,2.1,0.1\n1,2.25,0.1\n2,2.15,0.1\n3,2.0,0.1\n"
    log = read_run(_write(tmp_path / "resumed.csv", text))
    assert log.steps == [0, 1, 2, 3] and log.losses == [2.3, 2.25, 2.15, 2.0]

"""Offline inputs for `lr-callbacks diagnose`: CSV, JSONL/JSON, TensorBoard dirs, W&B CSV.

Each reader returns a `RunLog` (per-step loss and LR of group 0, and evaluations).
Column or tag names are recognised from the defaults that Lightning, HF Trainer,
Keras, W&B and this project write; ``*_key`` arguments override them. Malformed
input raises `RunLogError` naming the file (and line). Nothing is evaluated or
unpickled: CSV goes through `csv`, JSON through `json`, event files through
TensorBoard's own reader.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

STEP_KEYS = ("step", "global_step", "trainer/global_step", "train/global_step", "_step",
             "Step", "iteration", "epoch")  # fmt: skip
LOSS_KEYS = ("loss", "train_loss", "train/loss", "lr_callbacks/loss", "train_loss_step",
             "training_loss", "batch_loss", "train/batch_loss", "train/epoch_loss",
             "epoch_loss", "train_loss_epoch")  # fmt: skip
LR_KEYS = ("lr", "learning_rate", "train/learning_rate", "lr_callbacks/lr/group0", "lr/group0",
           "train/lr", "lr-group0")  # fmt: skip
VAL_KEYS = ("val_loss", "eval/loss", "eval_loss", "lr_callbacks/val_loss", "validation_loss",
            "val/loss", "validation/epoch_loss", "valid_loss", "val_loss_epoch",
            "epoch_val_loss")  # fmt: skip
# Lightning's LearningRateMonitor: "lr-Adam", or "lr-Adam/pg1" with several groups.
_LIGHTNING_LR = re.compile(r"^lr-[A-Za-z0-9_.]+(/pg1)?$")
_WANDB_EXTRA = re.compile(r"__(MIN|MAX)$")
_TB_HINT = "pip install 'lr-callbacks[tensorboard]'"


class RunLogError(ValueError):
    """Bad offline input; the message names the file and, where it applies, the line."""


@dataclass
class RunLog:
    """A finished run's series, ordered by step.

    Attributes:
        path: where it was read from.
        steps, losses, lrs: one entry per training step (LR of group 0, None if absent).
        evals: (step, validation loss) pairs.
        keys: the column/tag used for "step", "loss", "lr" and "val" (None if absent).
    """

    path: str
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float | None] = field(default_factory=list)
    evals: list[tuple[int, float]] = field(default_factory=list)
    keys: dict[str, str | None] = field(default_factory=dict)


def read_run(
    path: str | os.PathLike[str],
    loss_key: str | None = None,
    lr_key: str | None = None,
    val_key: str | None = None,
) -> RunLog:
    """Read a CSV, JSONL/JSON file or TensorBoard log directory by its form.

    Raises:
        RunLogError: missing path, unknown format, missing column, malformed row.
        ImportError: a TensorBoard directory without tensorboard installed.
    """
    name = os.fspath(path)
    overrides = {"loss": loss_key, "lr": lr_key, "val": val_key}
    if os.path.isdir(name):
        return read_tensorboard(name, **_kw(overrides))
    if not os.path.exists(name):
        raise RunLogError(f"{name}: no such file or directory")
    suffix = os.path.splitext(name)[1].lower()
    if suffix in (".csv", ".tsv"):
        return read_csv(name, **_kw(overrides))
    if suffix in (".jsonl", ".ndjson", ".json"):
        return read_jsonl(name, **_kw(overrides))
    raise RunLogError(
        f"{name}: unknown format {suffix or '(no extension)'!r}; expected a .csv, .jsonl or "
        ".json file, or a TensorBoard log directory"
    )


def _kw(overrides: Mapping[str, str | None]) -> dict[str, str | None]:
    return {f"{k}_key": v for k, v in overrides.items()}


def _normalise(column: str) -> str:
    """W&B exports name columns "<run> - <metric>"; keep the metric."""
    return column.split(" - ", 1)[1] if " - " in column else column


def _pick(
    where: str, names: Iterable[str], wanted: str | None, defaults: tuple[str, ...], what: str
) -> str | None:
    available = [n for n in names if not _WANDB_EXTRA.search(n)]
    if wanted is not None:
        if wanted not in available:
            raise RunLogError(f"{where}: no {what} column {wanted!r}; found {sorted(available)}")
        return wanted
    for key in defaults:
        if key in available:
            return key
    if what == "lr":
        return next((n for n in sorted(available) if _LIGHTNING_LR.match(n)), None)
    return None


def _resolve(where: str, names: list[str], overrides: Mapping[str, str | None]) -> dict[str, Any]:
    keys = {
        "step": _pick(where, names, None, STEP_KEYS, "step"),
        "loss": _pick(where, names, overrides["loss_key"], LOSS_KEYS, "loss"),
        "lr": _pick(where, names, overrides["lr_key"], LR_KEYS, "lr"),
        "val": _pick(where, names, overrides["val_key"], VAL_KEYS, "val"),
    }
    for what in ("step", "loss"):
        if keys[what] is None:
            wanted = STEP_KEYS if what == "step" else LOSS_KEYS
            raise RunLogError(
                f"{where}: missing {what} column; expected one of {list(wanted)} "
                f"(or pass --{what}-key); found {sorted(names)}"
            )
    return keys


class _Merger:
    """Merges rows by step (loggers write loss, LR and val on separate rows); last wins.

    Rows usually arrive in step order, so they are appended; a step seen before (a
    resumed run's log) is merged into its row through an index built on demand.
    """

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.last = -1
        self.index: dict[int, list[Any]] | None = None

    def add(self, step: int, loss: float | None, lr: float | None, val: float | None) -> None:
        if step > self.last:
            row = [step, loss, lr, val]
            self.rows.append(row)
            self.last = step
            if self.index is not None:
                self.index[step] = row
            return
        if step == self.last:
            row = self.rows[-1]
        else:
            if self.index is None:
                self.index = {r[0]: r for r in self.rows}
            row = self.index.get(step)  # type: ignore[assignment]
            if row is None:
                row = self.index[step] = [step, None, None, None]
                self.rows.append(row)
        for i, value in enumerate((loss, lr, val), 1):
            if value is not None:
                row[i] = value

    def finish(self, path: str, keys: dict[str, str | None]) -> RunLog:
        rows = sorted(self.rows, key=_first) if self.index is not None else self.rows
        train = [r for r in rows if r[1] is not None]
        if not train:
            raise RunLogError(f"{path}: no training loss values found (column {keys['loss']!r})")
        return RunLog(
            path,
            steps=[r[0] for r in train],
            losses=[r[1] for r in train],
            lrs=[r[2] for r in train],
            evals=[(r[0], r[3]) for r in rows if r[3] is not None],
            keys=keys,
        )


def _first(row: list[Any]) -> int:
    return int(row[0])


def _number(where: str, column: str, text: Any) -> float | None:
    if text is None or text == "":
        return None
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise RunLogError(f"{where}: {column!r} is not a number: {text!r}")
    try:
        return float(text)
    except ValueError:
        raise RunLogError(f"{where}: {column!r} is not a number: {text!r}") from None


def _step(where: str, column: str, text: Any) -> int:
    value = _number(where, column, text)
    if value is None or not math.isfinite(value) or value != int(value) or value < 0:
        raise RunLogError(f"{where}: {column!r} must be a whole number >= 0; got {text!r}")
    return int(value)


def read_csv(
    path: str, loss_key: str | None = None, lr_key: str | None = None, val_key: str | None = None
) -> RunLog:
    """Read a CSV (a logger's metrics.csv, a W&B history export, a hand-made file)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise RunLogError(f"{path}: empty file, expected a header line")
        names = [_normalise(c.strip()) for c in header]
        keys = _resolve(f"{path}:1", names, _kw({"loss": loss_key, "lr": lr_key, "val": val_key}))
        index = {k: (None if v is None else names.index(v)) for k, v in keys.items()}
        return _csv_rows(path, reader, len(names), index).finish(path, keys)


def _csv_rows(path: str, reader: Any, width: int, index: dict[str, int | None]) -> _Merger:
    merger = _Merger()
    i_step, i_loss, i_lr, i_val = (index[k] for k in ("step", "loss", "lr", "val"))
    for row in reader:
        if len(row) != width:
            if not row:
                continue
            where = f"{path}:{reader.line_num}"
            raise RunLogError(f"{where}: expected {width} fields, got {len(row)}")
        try:
            step = int(row[i_step])
            if step < 0:
                raise ValueError(step)
            loss = float(row[i_loss]) if row[i_loss] else None
            lr = float(row[i_lr]) if i_lr is not None and row[i_lr] else None
            val = float(row[i_val]) if i_val is not None and row[i_val] else None
        except ValueError:  # slow path: say exactly what is wrong
            step, loss, lr, val = _csv_slow(f"{path}:{reader.line_num}", row, index)
        merger.add(step, loss, lr, val)
    return merger


def _csv_slow(
    where: str, row: list[str], index: dict[str, int | None]
) -> tuple[int, float | None, float | None, float | None]:
    values = {k: (None if i is None else row[i]) for k, i in index.items()}
    step = _step(where, "step", values["step"]) if values["step"] else None
    loss, lr, val = (_number(where, k, values[k]) for k in ("loss", "lr", "val"))
    if step is None:
        raise RunLogError(f"{where}: empty step")
    return step, loss, lr, val


def _json_records(path: str) -> Iterator[tuple[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise RunLogError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
        if isinstance(data, dict) and isinstance(data.get("log_history"), list):
            data = data["log_history"]  # HF Trainer's trainer_state.json
        if not isinstance(data, list):
            raise RunLogError(f"{path}: expected a list of records or a trainer_state.json")
        yield from ((f"{path}: record {i + 1}", r) for i, r in enumerate(data))
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as error:
                raise RunLogError(f"{path}:{number}: invalid JSON ({error.msg})") from None


def read_jsonl(
    path: str, loss_key: str | None = None, lr_key: str | None = None, val_key: str | None = None
) -> RunLog:
    """Read JSON Lines (one object per line), a JSON list of records or trainer_state.json."""
    records = list(_json_records(path))
    names: set[str] = set()
    for where, record in records:
        if not isinstance(record, dict):
            raise RunLogError(f"{where}: expected a JSON object, got {type(record).__name__}")
        names.update(record)
    keys = _resolve(path, sorted(names), _kw({"loss": loss_key, "lr": lr_key, "val": val_key}))
    merger = _Merger()
    for where, record in records:
        if keys["step"] not in record:
            continue
        step = _step(where, str(keys["step"]), record[keys["step"]])
        values = [
            None if keys[k] is None else _number(where, str(keys[k]), record.get(str(keys[k])))
            for k in ("loss", "lr", "val")
        ]
        merger.add(step, *values)
    return merger.finish(path, keys)


def read_tensorboard(
    path: str, loss_key: str | None = None, lr_key: str | None = None, val_key: str | None = None
) -> RunLog:
    """Read the scalars of a TensorBoard log directory (needs the tensorboard package)."""
    scalars = _tb_scalars(path)
    keys = _resolve(path, [*scalars, "step"], _kw({"loss": loss_key, "lr": lr_key, "val": val_key}))
    merger = _Merger()
    for what in ("loss", "lr", "val"):
        tag = keys[what]
        for step, value in scalars.get(str(tag), {}).items() if tag else ():
            merger.add(step, *(value if w == what else None for w in ("loss", "lr", "val")))
    return merger.finish(path, keys)


def _tb_scalars(path: str) -> dict[str, dict[int, float]]:
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as error:
        raise ImportError(f"reading a TensorBoard directory needs tensorboard: {_TB_HINT}") from error
    dirs = sorted({root for root, _, files in os.walk(path) if any(".tfevents." in f for f in files)})
    if not dirs:
        raise RunLogError(f"{path}: no TensorBoard event files (events.out.tfevents.*) found")
    names = [os.path.relpath(d, path) for d in dirs]
    if len(dirs) > 1 and not set(names) <= {"train", "validation", "."}:
        raise RunLogError(f"{path}: event files of several runs ({', '.join(names)}); pass one")
    scalars: dict[str, dict[int, float]] = {}
    for folder, name in zip(dirs, names, strict=True):
        accumulator = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0})
        accumulator.Reload()
        prefix = "" if len(dirs) == 1 or name == "." else name + "/"
        for tag, series in _tb_folder(accumulator).items():
            scalars[prefix + tag] = series
    return scalars


def _tb_folder(accumulator: Any) -> dict[str, dict[int, float]]:
    found: dict[str, dict[int, float]] = {}
    tags = accumulator.Tags()
    for tag in tags.get("scalars", []):
        found[tag] = {int(e.step): float(e.value) for e in accumulator.Scalars(tag)}
    for tag in tags.get("tensors", []):  # summary-v2 writers store scalars as tensors
        from tensorboard.util import tensor_util

        values = {}
        for event in accumulator.Tensors(tag):
            array = tensor_util.make_ndarray(event.tensor_proto)
            if array.size == 1 and array.dtype.kind in "fiu":
                values[int(event.step)] = float(array.reshape(()))
        if values:
            found[tag] = values
    return found

"""The HF ``LRCallback`` against a real ``transformers.Trainer`` on a tiny GPT-2, on CPU."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import (  # noqa: E402
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from lr_callbacks.controller import StopTraining  # noqa: E402
from lr_callbacks.diagnostics import NonFiniteRule, Rule  # noqa: E402
from lr_callbacks.integrations.transformers import LRCallback, ScheduleLR  # noqa: E402
from lr_callbacks.schedules import parse  # noqa: E402
from lr_callbacks.sinks import ListSink  # noqa: E402

SPEC = "warmup_cosine(peak_lr=0.01, warmup=2, min_lr_ratio=0.1)"
ROOT = Path(__file__).resolve().parents[1]


class TokenDataset(torch.utils.data.Dataset):  # type: ignore[misc]
    """Random token rows; each is its own label (causal LM)."""

    def __init__(self, rows: int = 24, length: int = 16) -> None:
        self.ids = torch.randint(0, 64, (rows, length), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.ids[index], "labels": self.ids[index]}


class TinyGPT2(GPT2LMHeadModel):  # type: ignore[misc]
    """GPT-2 whose training forward can return a NaN loss at a chosen micro-batch, or a wrapped loss."""

    def __init__(self, poison_at: int | None = None, wrap: Any = None) -> None:
        super().__init__(
            GPT2Config(
                n_layer=1, n_head=2, n_embd=32, vocab_size=64, n_positions=32, bos_token_id=0, eos_token_id=0
            )
        )
        self.poison_at, self.wrap, self.calls = poison_at, wrap, 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = super().forward(*args, **kwargs)
        if self.training:
            if self.calls == self.poison_at:
                out.loss = out.loss * float("nan")
            if self.wrap is not None:
                out.loss = self.wrap(out.loss)
            self.calls += 1
        return out


class Probe(TrainerCallback):  # type: ignore[misc]
    """Records the LR of every group that each optimizer update used, and the micro-batches."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []
        self.micro_batches = 0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.micro_batches += 1

    def on_substep_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.micro_batches += 1

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.lrs.append([group["lr"] for group in kw["optimizer"].param_groups])


def make_trainer(
    tmp_path: Path,
    cb: Any,
    model: Any = None,
    optimizers: Any = (None, None),
    eval_dataset: Any = None,
    **overrides: Any,
) -> tuple[Trainer, Probe]:
    torch.manual_seed(0)
    model = model if model is not None else TinyGPT2()
    settings: dict[str, Any] = dict(
        per_device_train_batch_size=4, max_steps=8, use_cpu=True, report_to=[], save_strategy="no",
        disable_tqdm=True, logging_steps=1, logging_nan_inf_filter=False, seed=0, remove_unused_columns=False, label_names=["labels"], learning_rate=0.01,
    )  # fmt: skip
    settings.update(overrides)
    args = TrainingArguments(str(tmp_path / "out"), **settings)
    probe = Probe()
    callbacks = [cb, probe] if cb is not None else [probe]
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=TokenDataset(),
        eval_dataset=eval_dataset,
        callbacks=callbacks,
        optimizers=optimizers,
    )
    return trainer, probe


def two_groups(model: Any) -> Any:
    """AdamW with the transformer block at 1/10 of the LR of the rest."""
    block = list(model.transformer.h.parameters())
    ids = {id(p) for p in block}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.AdamW([{"params": rest, "lr": 0.01}, {"params": block, "lr": 0.001}])


def logged(trainer: Trainer, key: str) -> dict[int, float]:
    return {row["step"]: row[key] for row in trainer.state.log_history if key in row}


def test_lr_is_the_schedule_for_every_update_not_micro_batch_and_groups_keep_their_ratio(
    tmp_path: Path,
) -> None:
    model = TinyGPT2()
    cb = LRCallback(SPEC, sinks=[])
    # 24 rows / 4 = 6 micro-batches per epoch, 3 per update: 2 updates per epoch, 3 epochs.
    trainer, probe = make_trainer(
        tmp_path, cb, model, optimizers=(two_groups(model), None), max_steps=-1, num_train_epochs=3,
        gradient_accumulation_steps=3, lr_scheduler_type="linear", warmup_steps=3,
    )  # fmt: skip
    trainer.train()
    schedule = parse(SPEC).bind(total_steps=6, steps_per_epoch=2)
    assert trainer.state.global_step == 6 and probe.micro_batches == 18
    assert isinstance(trainer.lr_scheduler, ScheduleLR)
    assert [lrs[0] for lrs in probe.lrs] == [schedule(t) for t in range(6)]
    assert all(lrs[1] == pytest.approx(lrs[0] * 0.1, rel=1e-12) for lrs in probe.lrs)
    # What HF logs as learning_rate at step k is the LR update k-1 used (not the next one).
    assert logged(trainer, "learning_rate") == {k + 1: probe.lrs[k][0] for k in range(6)}


def test_lengths_in_epochs_use_the_updates_per_epoch(tmp_path: Path) -> None:
    cb = LRCallback("warmup_cosine(peak_lr=0.01, warmup='1ep')", sinks=[])
    trainer, probe = make_trainer(
        tmp_path, cb, max_steps=-1, num_train_epochs=2, gradient_accumulation_steps=2
    )
    trainer.train()
    schedule = parse("warmup_cosine(peak_lr=0.01, warmup='1ep')").bind(total_steps=6, steps_per_epoch=3)
    assert [lrs[0] for lrs in probe.lrs] == [schedule(t) for t in range(6)]


def test_schedule_none_leaves_hf_scheduler_alone_and_still_stops_on_nan(tmp_path: Path) -> None:
    sink = ListSink()
    cb = LRCallback(None, sinks=[sink], rules=[NonFiniteRule()])
    trainer, probe = make_trainer(tmp_path, cb, TinyGPT2(poison_at=5), lr_scheduler_type="linear")
    trainer.train()
    assert [lrs[0] for lrs in probe.lrs] == pytest.approx([0.01 * (8 - t) / 8 for t in range(6)])
    assert not isinstance(trainer.lr_scheduler, ScheduleLR)
    assert trainer.state.global_step == 6
    assert [(a.rule, a.step) for a in sink.alerts] == [("nonfinite", 5)]


def test_injected_nan_stops_training_and_is_not_hidden(tmp_path: Path, caplog: Any) -> None:
    sink = ListSink()
    cb = LRCallback(SPEC, sinks=[sink])
    # HF's default NaN filter is on: HF's own log shows a made-up loss at the NaN step.
    trainer, _ = make_trainer(tmp_path, cb, TinyGPT2(poison_at=3), logging_nan_inf_filter=True)
    with caplog.at_level(logging.WARNING, logger="lr_callbacks"):
        trainer.train()
    assert sum("logging_nan_inf_filter=False" in r.getMessage() for r in caplog.records) == 1
    assert math.isfinite(logged(trainer, "loss")[4])  # HF hid the NaN of update 3 ...
    nonfinite = [a for a in sink.alerts if a.rule == "nonfinite"]
    assert [a.step for a in nonfinite] == [3]  # ... the rules saw it
    assert 4 <= trainer.state.global_step <= 5 and cb.should_stop  # stopped within two updates


def test_raise_on_stop_carries_the_alert_and_unwraps_the_trainer(tmp_path: Path) -> None:
    cb = LRCallback(SPEC, sinks=[], raise_on_stop=True, rules=[NonFiniteRule()])
    trainer, _ = make_trainer(tmp_path, cb, TinyGPT2(poison_at=2))
    with pytest.raises(StopTraining) as info:
        trainer.train()
    assert info.value.alert is not None and (info.value.alert.rule, info.value.alert.step) == ("nonfinite", 2)
    assert "training_step" not in trainer.__dict__


class EvalRecorder(Rule):
    """Alerts on every evaluation, to show that eval_loss reaches the rules and alerts reach sinks."""

    name: ClassVar[str] = "eval_recorder"
    on_finite: ClassVar[bool] = False
    on_eval: ClassVar[bool] = True

    def update(self, obs: Any, context: Any) -> list[Any]:
        return [self._alert("info", obs.step, f"val_loss={obs.val_loss}", "", "")]


def test_eval_loss_reaches_the_rules_and_alerts_reach_the_sinks(tmp_path: Path) -> None:
    sink = ListSink()
    cb = LRCallback(SPEC, sinks=[sink], rules=[NonFiniteRule(), EvalRecorder()])
    trainer, _ = make_trainer(
        tmp_path, cb, eval_dataset=TokenDataset(rows=8), eval_strategy="steps", eval_steps=4
    )
    trainer.train()
    evals = logged(trainer, "eval_loss")
    assert [(a.rule, a.step) for a in sink.alerts] == [("eval_recorder", 3), ("eval_recorder", 7)]
    assert sink.alerts[0].message == f"val_loss={evals[4]}"


def run_to(tmp_path: Path, cb: LRCallback, poison_at: int, resume: str | None = None, **kw: Any) -> Any:
    torch.manual_seed(0)
    model = TinyGPT2(poison_at=poison_at)
    trainer, probe = make_trainer(tmp_path, cb, model, save_strategy="steps", save_steps=3, **kw)
    if resume is not None:
        model.calls = int(resume.rsplit("-", 1)[1])  # one micro-batch per update
    trainer.train(resume_from_checkpoint=resume)
    return trainer, probe


@pytest.mark.parametrize("restore_flag", [False, True])
def test_resume_from_a_mid_run_checkpoint_gives_the_same_lrs_and_alerts(
    tmp_path: Path, restore_flag: bool
) -> None:
    sinks = None if restore_flag else [ListSink()]  # the Trainer's own restore cannot carry sinks
    full_cb = LRCallback(SPEC, stop_on=(), sinks=sinks)
    full, full_probe = run_to(tmp_path / "full", full_cb, poison_at=2)
    first_cb = LRCallback(SPEC, stop_on=(), sinks=sinks)
    run_to(tmp_path / "cut", first_cb, poison_at=2)  # writes checkpoint-3 and checkpoint-6
    resumed_cb = LRCallback(SPEC, stop_on=(), sinks=sinks)
    checkpoint = str(tmp_path / "cut" / "out" / "checkpoint-3")
    resumed, probe = run_to(
        tmp_path / "cut", resumed_cb, poison_at=2, resume=checkpoint,
        restore_callback_states_from_checkpoint=restore_flag,
    )  # fmt: skip
    assert probe.lrs == full_probe.lrs[3:]
    assert logged(resumed, "learning_rate") == logged(full, "learning_rate")  # steps 1-3 from the checkpoint
    live = next(c for c in resumed.callback_handler.callbacks if isinstance(c, LRCallback))
    assert live is resumed_cb or restore_flag  # the Trainer's restore replaces the instance
    assert [a.to_dict() for a in live.alerts] == [a.to_dict() for a in full_cb.alerts]
    assert [a.step for a in live.alerts if a.rule == "nonfinite"] == [2]  # one NaN run, one alert


def test_loss_and_every_group_lr_line_up_in_tensorboard(tmp_path: Path, monkeypatch: Any) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    model = TinyGPT2(poison_at=6)
    cb = LRCallback(SPEC, sinks=[], stop_on=(), rules=[NonFiniteRule()])
    trainer, probe = make_trainer(
        tmp_path, cb, model, optimizers=(two_groups(model), None), report_to=["tensorboard"]
    )
    trainer.train()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}
    steps = list(range(1, 9))
    for group in (0, 1):
        lrs = scalars[f"lr_callbacks/lr/group{group}"]
        assert lrs == {k: pytest.approx(probe.lrs[k - 1][group], rel=1e-6) for k in steps}
    assert scalars["train/learning_rate"] == scalars["lr_callbacks/lr/group0"]
    ours, hf = scalars["lr_callbacks/loss"], scalars["train/loss"]
    assert sorted(ours) == steps and sorted(hf) == steps
    assert all(ours[k] == hf[k] for k in steps if k < 7)  # the same per-update loss, same index
    assert math.isnan(ours[7]) and math.isnan(hf[7])  # NaN at update 6, HF's filter off: shown


class CountingTensor(torch.Tensor):  # type: ignore[misc]
    """A tensor that counts every host read of its value."""

    reads = 0
    READS: ClassVar[set[Any]] = {
        torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.__bool__, torch.Tensor.__int__,
        torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.numpy,
    }  # fmt: skip

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func in cls.READS:
            CountingTensor.reads += 1
        return super().__torch_function__(func, types, args, kwargs or {})


class ReadCounter(TrainerCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.per_step: list[int] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.per_step.append(CountingTensor.reads)


def test_no_host_read_of_the_loss_per_update(tmp_path: Path) -> None:
    model = TinyGPT2(wrap=lambda loss: loss.as_subclass(CountingTensor))
    cb = LRCallback(SPEC, sinks=[])
    trainer, _ = make_trainer(tmp_path, cb, model, logging_steps=1000, gradient_accumulation_steps=2)
    counter = ReadCounter()
    trainer.add_callback(counter)
    CountingTensor.reads = 0
    trainer.train()
    assert counter.per_step == [0] * 8
    assert cb.step_count == 8
    assert CountingTensor.reads >= 1  # HF's final train_loss .item(): the counter does see reads


def test_ddp_two_processes_same_lr_and_a_nan_on_rank_1_stops_both(tmp_path: Path) -> None:
    from distributed_launch import run_workers

    run_workers("transformers_ddp.py", [str(tmp_path)], nprocs=2, timeout=240)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["backend"] for r in results] == ["gloo", "gloo"]
    schedule = parse(SPEC).bind(total_steps=8)
    assert results[0]["lrs"] == results[1]["lrs"] == [schedule(t) for t in range(len(results[0]["lrs"]))]
    assert results[0]["global_step"] == results[1]["global_step"] == 4  # NaN at update 3 on rank 1 only
    assert results[0]["scheduler_steps"] == results[1]["scheduler_steps"] == [1, 2, 3, 4]
    assert results[0]["logged_lrs"] == results[0]["lrs"]
    assert results[1]["alerts"] == []
    assert [(a["rule"], a["step"]) for a in results[0]["alerts"]] == [("nonfinite", 3)]
    assert "rank 1" in results[0]["alerts"][0]["message"]


def test_bad_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stop_check_every=0"):
        LRCallback(SPEC, stop_check_every=0)
    with pytest.raises(TypeError, match="schedule=42"):
        LRCallback(42)  # type: ignore[arg-type]
    model = TinyGPT2()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    theirs = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    with pytest.raises(ValueError, match=r"optimizers=\(optimizer, None\)"):
        make_trainer(tmp_path, LRCallback(SPEC), model, optimizers=(optimizer, theirs))
    make_trainer(tmp_path, LRCallback(None), model, optimizers=(optimizer, theirs))  # theirs, kept
    with pytest.raises(ValueError, match="restore_callback_states_from_checkpoint=True"):
        make_trainer(tmp_path, LRCallback(SPEC, sinks=[]), restore_callback_states_from_checkpoint=True)
    trainer, _ = make_trainer(tmp_path, LRCallback(SPEC, sinks=[]))
    trainer.add_callback(LRCallback(SPEC, sinks=[]))
    with pytest.raises(ValueError, match="one LRCallback per Trainer"):
        trainer.train()


def test_a_run_length_the_trainer_cannot_tell_is_an_error_naming_total_steps(tmp_path: Path) -> None:
    from transformers import TrainerState

    cb = LRCallback("cosine(peak_lr=0.1)", sinks=[])
    trainer, _ = make_trainer(tmp_path, cb)
    trainer.callback_handler.optimizer = trainer.create_optimizer()
    with pytest.raises(ValueError, match=r"total_steps=N"):
        trainer.callback_handler.on_train_begin(trainer.args, TrainerState(max_steps=0), trainer.control)


class Stream(torch.utils.data.IterableDataset):  # type: ignore[misc]
    def __iter__(self) -> Any:
        return iter(TokenDataset())


def test_epoch_lengths_on_an_iterable_dataset_name_steps_per_epoch(tmp_path: Path) -> None:
    cb = LRCallback("warmup_cosine(peak_lr=0.01, warmup='1ep')", sinks=[])
    trainer, _ = make_trainer(tmp_path, cb)
    trainer.train_dataset = Stream()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        trainer.train()


def test_the_example_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "transformers_example.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "learning rate" in result.stdout

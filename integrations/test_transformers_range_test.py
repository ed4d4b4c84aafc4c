"""HF ``find_lr`` on a tiny GPT-2 (built from a config) learning characters of a real text file."""

from __future__ import annotations

import dataclasses
import logging
import random
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402

import lr_callbacks.integrations.transformers as hf  # noqa: E402
from lr_callbacks.integrations.transformers import LRCallback, find_lr  # noqa: E402
from lr_callbacks.range_test import RangeTestResult  # noqa: E402
from lr_callbacks.schedules import parse  # noqa: E402


class Characters(torch.utils.data.Dataset):  # type: ignore[misc]
    """Windows of 32 characters of the standard library's textwrap.py; each is its own label."""

    def __init__(self) -> None:
        text = Path(textwrap.__file__).read_text()[:20000]
        codes = torch.tensor([min(ord(c), 127) for c in text])
        self.rows = codes[: len(codes) // 32 * 32].view(-1, 32)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.rows[index], "labels": self.rows[index]}


class TinyGPT2(GPT2LMHeadModel):  # type: ignore[misc]
    """A 1-layer GPT-2 that can raise at a chosen training forward."""

    def __init__(self, fail_at: int | None = None) -> None:
        torch.manual_seed(0)
        config = GPT2Config(
            n_layer=1, n_head=2, n_embd=32, vocab_size=128, n_positions=32, bos_token_id=0, eos_token_id=0
        )
        super().__init__(config)
        self.fail_at, self.calls = fail_at, 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.training:
            self.calls += 1
            if self.calls == self.fail_at:
                raise RuntimeError("bad batch")
        return super().forward(*args, **kwargs)


def make_trainer(
    tmp_path: Path, model: Any = None, optimizers: Any = (None, None), **overrides: Any
) -> Trainer:
    settings: dict[str, Any] = dict(
        per_device_train_batch_size=8, max_steps=4, use_cpu=True, report_to=[], save_strategy="no",
        disable_tqdm=True, seed=0, remove_unused_columns=False, learning_rate=1e-3,
    )  # fmt: skip
    settings.update(overrides)
    args = TrainingArguments(str(tmp_path / "out"), **settings)
    model = model if model is not None else TinyGPT2()
    return Trainer(model=model, args=args, train_dataset=Characters(), optimizers=optimizers)


def weights(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(before: dict[str, Any], model: Any) -> None:
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key


def rng_state() -> Any:
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_find_lr_suggests_a_sensible_lr_and_restores_model_trainer_and_rng(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    trainer.model.eval()
    before, rng, state = weights(trainer.model), rng_state(), dataclasses.asdict(trainer.state)
    result = find_lr(trainer, plot=tmp_path / "rt.png")
    assert isinstance(result, RangeTestResult)
    # AdamW on a tiny character model: good peaks lie around 1e-3 .. 1e-1 (the loss blows up near 1)
    assert 1e-3 <= result.suggested_peak_lr <= 0.2, result.message()
    assert not result.blocking_flags and result.stop_reason == "diverged" and len(result.losses) < 100
    assert_same_weights(before, trainer.model)
    assert not trainer.model.training and all(p.grad is None for p in trainer.model.parameters())
    assert trainer.optimizer is None and trainer.lr_scheduler is None
    assert dataclasses.asdict(trainer.state) == state
    assert (tmp_path / "rt.png").read_bytes()[:4] == b"\x89PNG"
    drawn = draws()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == draws()
    trainer.train()  # and the Trainer still trains as usual
    assert trainer.state.global_step == 4


def test_a_user_optimizer_is_restored_when_the_model_raises_mid_sweep(tmp_path: Path) -> None:
    model = TinyGPT2(fail_at=25)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    trainer = make_trainer(tmp_path, model, optimizers=(optimizer, None), gradient_accumulation_steps=2)
    trainer.train()  # the optimizer holds AdamW state; the model raises at its 25th training forward overall
    model.calls = 0
    wrapped = trainer.optimizer  # accelerate's wrapper around it, after train()
    saved = optimizer.state_dict()
    state = {k: {n: t.clone() for n, t in s.items()} for k, s in saved["state"].items()}
    groups = saved["param_groups"]
    before, rng = weights(model), rng_state()
    with pytest.raises(RuntimeError, match="bad batch"):
        find_lr(trainer)
    assert model.calls == 25  # 12 updates of 2 micro-batches, then the failure
    assert_same_weights(before, model)
    after = optimizer.state_dict()
    assert after["param_groups"] == groups and after["state"].keys() == state.keys()
    for key, entries in state.items():
        for name, value in entries.items():
            assert torch.equal(value, after["state"][key][name]), (key, name)
    assert trainer.optimizer is wrapped
    drawn = draws()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == draws()


def test_not_a_trainer_is_named() -> None:
    with pytest.raises(TypeError, match=r"find_lr: trainer must be a transformers\.Trainer; got trainer="):
        find_lr(object())  # type: ignore[arg-type]


# --- LRCallback(find_lr=..., scenario=...) ---------------------------------------------------------


class Recorder(transformers.TrainerCallback):  # type: ignore[misc]
    """The weights and state at train start (after LRCallback's sweep) and the LR each update used."""

    def __init__(self) -> None:
        self.start: dict[str, Any] = {}
        self.state: Any = None
        self.lrs: list[float] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.start, self.state = weights(kw["model"]), state

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.lrs.append(kw["optimizer"].param_groups[0]["lr"])


def test_lr_callback_find_lr_trains_with_the_suggestion_and_leaves_no_trace(
    tmp_path: Path, caplog: Any, monkeypatch: Any
) -> None:
    results: list[RangeTestResult] = []

    def spy(trainer: Any, **options: Any) -> RangeTestResult:
        results.append(find_lr(trainer, **options))  # the original, imported above
        return results[-1]

    monkeypatch.setattr(hf, "find_lr", spy)
    cb, seen = LRCallback("cosine(peak_lr=1.0)", find_lr=dict(num_steps=100)), Recorder()
    trainer = make_trainer(tmp_path)
    trainer.add_callback(cb), trainer.add_callback(seen)
    before = weights(trainer.model)
    with caplog.at_level(logging.INFO, logger="lr_callbacks"):
        trainer.train()
    (result,) = results
    found = cb.controller.schedule
    assert result.suggested_peak_lr is not None and not result.blocking_flags
    assert found == result.apply(parse("cosine(peak_lr=1.0)")) and found.peak_lr == result.suggested_peak_lr
    assert any("Training with cosine(peak_lr=" in r.message for r in caplog.records)
    assert seen.lrs[0] == pytest.approx(result.suggested_peak_lr)  # update 0 is cosine's peak
    assert seen.lrs == pytest.approx([found.bind(total_steps=4)(t) for t in range(4)])
    assert_same_weights(before, _Weights(seen.start))  # the sweep restored the weights before update 0
    assert trainer.state is seen.state and trainer.state.global_step == 4  # HF's loop kept its state object
    assert cb.state()["args"]["schedule"] == found.to_spec()  # a rebuilt callback trains on with it
    # The same run with the found schedule written in: identical weights (the sweep left no trace).
    plain = make_trainer(tmp_path)
    plain.add_callback(LRCallback(found))
    plain.train()
    assert_same_weights(weights(plain.model), trainer.model)


class _Weights:
    """A state dict seen as a model, for ``assert_same_weights``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def state_dict(self) -> dict[str, Any]:
        return self.values


def test_lr_callback_find_lr_needs_a_peak_and_a_fresh_single_process_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"LRCallback: find_lr replaces the schedule's peak_lr"):
        LRCallback(lambda t: 0.1, find_lr=True)
    with pytest.raises(ValueError, match=r"LRCallback: find_lr options must be among"):
        LRCallback("cosine(peak_lr=0.1)", find_lr=dict(steps=10))
    first = make_trainer(tmp_path, max_steps=2, save_strategy="steps", save_steps=2)
    first.add_callback(LRCallback("cosine(peak_lr=0.1)"))
    first.train()
    resumed = make_trainer(tmp_path, max_steps=4)
    resumed.add_callback(LRCallback("cosine(peak_lr=0.1)", find_lr=True))
    fresh = r"LRCallback: find_lr runs at the start of a fresh single-process run; got global_step=2, world_size=1"
    with pytest.raises(ValueError, match=fresh):
        resumed.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-2"))
    cb = LRCallback("cosine(peak_lr=0.1)", find_lr=True)
    many = SimpleNamespace(world_size=2, process_index=0)  # what a rank of a 2-process run sees
    with pytest.raises(ValueError, match=r"find_lr runs at the start of a fresh single-process run; got "
                       r"global_step=0, world_size=2"):  # fmt: skip
        cb._range_test(make_trainer(tmp_path), many, transformers.TrainerState())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "lr", "warns"),
    [
        ("cosine(peak_lr=1e-2)", 1e-3, "is 200x above the usual starting LR for llm_finetuning with adam"),
        ("cosine(peak_lr=3e-5)", 1e-3, None),
        (None, 1e-7, "below the usual starting LR for llm_finetuning with adam"),  # HF's own LR is checked
    ],
)
def test_scenario_warns_once_at_train_start(
    spec: str | None, lr: float, warns: str | None, tmp_path: Path, caplog: Any
) -> None:
    cb = LRCallback(spec, scenario="llm_finetuning")
    trainer = make_trainer(tmp_path, max_steps=2, learning_rate=lr)
    trainer.add_callback(cb)
    with caplog.at_level(logging.WARNING, logger="lr_callbacks"):
        trainer.train()
        trainer.train()  # a second run with the same callback: no second warning
    messages = [r.message for r in caplog.records if "usual starting LR" in r.message]
    assert len(messages) == (0 if warns is None else 1)
    assert all(warns in message for message in messages)
    with pytest.raises(ValueError, match=r"LRCallback: scenario must be one of"):
        LRCallback(spec, scenario="finetuning")

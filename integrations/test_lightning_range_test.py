"""Lightning ``find_lr`` through a real ``Trainer`` on scikit-learn digits: suggestion, exact restore, plot."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from lr_callbacks.integrations.lightning import LRCallback, find_lr  # noqa: E402
from lr_callbacks.range_test import RangeTestResult  # noqa: E402
from lr_callbacks.schedules import parse  # noqa: E402


def digits() -> Any:
    x, y = datasets.load_digits(return_X_y=True)
    return torch.utils.data.TensorDataset(torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y))


class Digits(pl.LightningModule):
    """An MLP with BatchNorm (its running statistics move during a sweep), Adam at 1e-3."""

    def __init__(self, fail_at: int | None = None, optimizer: str = "adam", lr: float = 1e-3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
        )
        self.fail_at, self.calls, self.optimizer_name, self.lr = fail_at, 0, optimizer, lr

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("bad batch")
        torch.rand(1), np.random.rand(), random.random()  # the sweep consumes random numbers
        return torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self) -> Any:
        if self.optimizer_name == "sgd":
            return torch.optim.SGD(self.parameters(), lr=self.lr)
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def train_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(digits(), batch_size=32, shuffle=True)


def make_trainer(tmp_path: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = dict(
        accelerator="cpu", max_steps=6, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    options.update(kwargs)
    return pl.Trainer(**options)


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


def test_find_lr_suggests_a_sensible_lr_and_leaves_model_trainer_and_rng_untouched(tmp_path: Path) -> None:
    model, trainer = Digits(), make_trainer(tmp_path)
    model.eval()
    before, rng, callbacks = weights(model), rng_state(), list(trainer.callbacks)
    result = find_lr(trainer, model, plot=tmp_path / "rt.png")
    assert isinstance(result, RangeTestResult)
    assert 3e-3 <= result.suggested_peak_lr <= 0.2, result.message()  # Adam on digits, as in the torch suite
    assert result.flags == () and result.stop_reason == "diverged" and len(result.losses) < 100
    assert_same_weights(before, model)
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert model._trainer is None and trainer.global_step == 0 and trainer.callbacks == callbacks
    assert (tmp_path / "rt.png").read_bytes()[:4] == b"\x89PNG"
    drawn = draws()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == draws()


def test_a_fit_after_find_lr_is_the_fit_without_it(tmp_path: Path) -> None:
    torch.manual_seed(1)
    plain = Digits()
    make_trainer(tmp_path).fit(plain)
    torch.manual_seed(1)
    tested, trainer = Digits(), make_trainer(tmp_path)
    find_lr(trainer, tested, num_steps=30)
    trainer.fit(tested)  # same shuffling, same updates: the sweep left no trace
    assert trainer.global_step == 6
    assert_same_weights(weights(plain), tested)


def test_optimizer_state_of_a_trained_trainer_is_restored_and_a_raising_model_restores_too(
    tmp_path: Path,
) -> None:
    model, trainer = Digits(fail_at=40), make_trainer(tmp_path, max_steps=3)
    trainer.fit(model)  # trainer.optimizers[0] now holds Adam state
    optimizer = trainer.optimizers[0]
    state = {k: {n: t.clone() for n, t in s.items()} for k, s in optimizer.state_dict()["state"].items()}
    groups = optimizer.state_dict()["param_groups"]
    before, rng = weights(model), rng_state()
    with pytest.raises(RuntimeError, match="bad batch"):
        find_lr(trainer, model)
    assert model.calls == 40
    assert_same_weights(before, model)
    after = optimizer.state_dict()
    assert after["param_groups"] == groups and after["state"].keys() == state.keys()
    for key, entries in state.items():
        for name, value in entries.items():
            assert torch.equal(value, after["state"][key][name]), (key, name)
    assert model._trainer is trainer and trainer.global_step == 3
    drawn = draws()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == draws()


def test_accumulation_records_one_loss_per_update_and_the_dataloader_argument_is_used(tmp_path: Path) -> None:
    loader = torch.utils.data.DataLoader(digits(), batch_size=16, shuffle=True)
    model, trainer = Digits(), make_trainer(tmp_path, accumulate_grad_batches=2)
    before = weights(model)
    result = find_lr(trainer, model, train_dataloaders=loader, num_steps=25, end_lr=1e-3)
    assert len(result.losses) == 25 and result.stop_reason == "end_of_sweep"
    assert model.calls == 50  # two micro-batches per ladder step
    assert_same_weights(before, model)


class LRs(pl.Callback):
    """The LR of param group 0 as each optimizer update is about to use it."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self.lrs.append(optimizer.param_groups[0]["lr"])


def test_lr_callback_find_lr_trains_with_the_suggestion_and_leaves_no_trace(
    tmp_path: Path, caplog: Any
) -> None:
    torch.manual_seed(2)
    model, cb, seen = Digits(), LRCallback("cosine(peak_lr=1.0)", find_lr=dict(num_steps=100)), LRs()
    with caplog.at_level(logging.INFO, logger="lr_callbacks"):
        make_trainer(tmp_path, callbacks=[cb, seen]).fit(model)
    found = cb.controller.schedule
    assert found != parse("cosine(peak_lr=1.0)") and 3e-3 <= found.peak_lr <= 0.2
    assert any("Training with cosine(peak_lr=" in r.message for r in caplog.records)
    assert seen.lrs == pytest.approx([found.bind(total_steps=6)(t) for t in range(6)])
    # The same fit with the found schedule written in: identical weights (the sweep left no trace).
    torch.manual_seed(2)
    plain = Digits()
    make_trainer(tmp_path, callbacks=[LRCallback(found)]).fit(plain)
    assert_same_weights(weights(plain), model)


def test_lr_callback_find_lr_needs_a_peak_and_a_fresh_single_process_fit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"LRCallback: find_lr replaces the schedule's peak_lr"):
        LRCallback(lambda t: 0.1, find_lr=True)
    model = Digits()
    trainer = make_trainer(tmp_path, max_steps=2)
    trainer.fit(model)
    trainer.fit_loop.epoch_loop.max_steps = 4  # a second fit continues from global_step 2
    with pytest.raises(
        ValueError, match=r"LRCallback: find_lr runs at the start of a fresh single-process fit"
    ):
        trainer.callbacks.append(LRCallback("cosine(peak_lr=0.1)", find_lr=True))
        trainer.fit(model)


@pytest.mark.parametrize(
    ("spec", "optimizer", "warns"),
    [
        ("cosine(peak_lr=1e-2)", "adam", "is 200x above the usual starting LR for llm_finetuning with adam"),
        ("cosine(peak_lr=3e-5)", "adam", None),
        ("cosine(peak_lr=1e-3)", "sgd", None),
        (None, "sgd", "is 1000x below"),  # no schedule: the optimizer's LR (1e-7) is checked
    ],
)
def test_scenario_warns_once_at_train_start(
    spec: str | None, optimizer: str, warns: str | None, tmp_path: Path, caplog: Any
) -> None:
    model = Digits(optimizer=optimizer, lr=1e-7 if spec is None else 1e-3)
    cb = LRCallback(spec, scenario="llm_finetuning")
    with caplog.at_level(logging.WARNING, logger="lr_callbacks"):
        make_trainer(tmp_path, max_steps=2, callbacks=[cb]).fit(model)
    messages = [r.message for r in caplog.records if "usual starting LR" in r.message]
    assert len(messages) == (0 if warns is None else 1)
    assert all(warns in message for message in messages)
    with pytest.raises(ValueError, match=r"LRCallback: scenario must be one of"):
        LRCallback(spec, scenario="finetuning")

"""Keras ``find_lr`` (torch backend) on scikit-learn digits: suggestion, exact restore, plot."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from lr_callbacks.integrations.keras import LRCallback, find_lr  # noqa: E402
from lr_callbacks.range_test import RangeTestResult  # noqa: E402
from lr_callbacks.schedules import parse  # noqa: E402


def digits() -> tuple[Any, Any]:
    x, y = datasets.load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y.astype("int64")


class Failing(keras.layers.Layer):  # type: ignore[misc]
    """Identity that raises at its n-th training call."""

    def __init__(self, fail_at: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_at, self.calls = fail_at, 0

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training:
            self.calls += 1
            if self.calls == self.fail_at:
                raise RuntimeError("bad batch")
        return inputs


class UnseededNoise(keras.layers.Layer):  # type: ignore[misc]
    """Gaussian noise from ``keras.random`` without a seed: Keras's global seed generator."""

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return inputs + 0.01 * keras.random.normal(keras.ops.shape(inputs)) if training else inputs


def make_model(fail_at: int | None = None, built: bool = True, noise: bool = False) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            *([keras.Input((64,))] if built else []),  # without an Input the first training call builds it
            keras.layers.Dense(64),
            keras.layers.BatchNormalization(),  # moving statistics change during a sweep
            keras.layers.ReLU(),
            keras.layers.Dropout(0.1),  # a seed generator advances during a sweep
            Failing(fail_at),
            *([UnseededNoise()] if noise else []),
            keras.layers.Dense(10),
        ]
    )
    return model


def compile_model(fail_at: int | None = None, built: bool = True, noise: bool = False) -> Any:
    model = make_model(fail_at, built, noise)
    model.compile(
        keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def values(variables: list[Any]) -> list[Any]:
    return [np.array(v.numpy(), copy=True) for v in variables]


def assert_equal(before: list[Any], after: list[Any]) -> None:
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a, b)


def rng_state() -> Any:
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_find_lr_suggests_a_sensible_lr_and_restores_everything(tmp_path: Path) -> None:
    x, y = digits()
    model = compile_model()
    model.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)  # the optimizer and metrics hold state
    before, optimizer_before = values(model.variables), values(model.optimizer.variables)
    metrics_before, rng = values(model.metrics_variables), rng_state()
    result = find_lr(model, x, y, batch_size=32, plot=tmp_path / "rt.png")
    assert isinstance(result, RangeTestResult)
    assert 3e-3 <= result.suggested_peak_lr <= 0.2, result.message()  # Adam on digits, as in the torch suite
    assert result.flags == () and result.stop_reason == "diverged" and len(result.losses) < 100
    assert_equal(before, values(model.variables))
    assert_equal(optimizer_before, values(model.optimizer.variables))
    assert_equal(metrics_before, values(model.metrics_variables))
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert (tmp_path / "rt.png").read_bytes()[:4] == b"\x89PNG"
    drawn = draws()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == draws()


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("state", ["never trained", "unbuilt", "trained"])
def test_fit_after_find_lr_is_the_fit_without_it(state: str, shuffle: bool) -> None:
    # A never-trained model's first fit builds its compiled loss and metrics from a batch of an
    # extra torch DataLoader pass, which draws the torch RNG; find_lr must leave that build to the
    # fit, or every later Dropout mask shifts. Unseeded keras.random calls draw from Keras's global
    # seed generator, which the sweep advances.
    x, y = digits()

    def fit(sweep: bool) -> list[Any]:
        model = compile_model(built=state != "unbuilt", noise=True)
        if state == "trained":
            model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
        if sweep:
            find_lr(model, x, y, batch_size=32, num_steps=20)
        model.fit(x[:256], y[:256], batch_size=32, epochs=1, shuffle=shuffle, verbose=0)
        return values([*model.variables, *model.optimizer.variables, *model.metrics_variables])

    assert_equal(fit(sweep=False), fit(sweep=True))


def test_the_per_batch_loss_is_recorded_not_the_running_mean() -> None:
    x, y = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile(
        keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    result = find_lr(model, x, y, batch_size=32, num_steps=20, end_lr=1e-6)
    # At LRs this small the model barely moves: each recorded loss is that batch's own loss
    # at the starting weights, which a running mean would smooth away.
    expected = [model.evaluate(x[i], y[i], verbose=0) for i in _first_batches(len(x), 32, 20)]
    assert result.losses == pytest.approx(expected, rel=1e-3)


def _first_batches(rows: int, batch_size: int, count: int) -> list[Any]:
    order = np.random.default_rng(0).permutation(rows)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(count)]


def test_a_raising_model_and_a_fresh_optimizer_are_restored() -> None:
    x, y = digits()
    model = compile_model(fail_at=30)
    before, rng = values(model.variables), rng_state()
    with pytest.raises(RuntimeError, match="bad batch"):
        find_lr(model, x, y)
    assert_equal(before, values(model.variables))
    assert all(not np.any(v) for v in values(model.optimizer.variables) if v.ndim)  # moments back to zero
    assert int(model.optimizer.iterations) == 0
    drawn = draws()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == draws()


def test_a_learning_rate_schedule_is_refused() -> None:
    model = compile_model()
    model.compile(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)), loss="mse")
    with pytest.raises(
        TypeError, match="find_lr: the model must be compiled with an optimizer whose learning_rate"
    ):
        find_lr(model, *digits())


# --- LRCallback.find_lr and LRCallback(scenario=...) -----------------------------------------------


class LRs(keras.callbacks.Callback):  # type: ignore[misc]
    """The LR of each update, read as the batch begins (after LRCallback set it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.lrs.append(float(self.model.optimizer.learning_rate))


def test_lr_callback_find_lr_trains_with_the_suggestion_and_restores_the_model(caplog: Any) -> None:
    x, y = digits()
    model, cb, seen = compile_model(), LRCallback("cosine(peak_lr=1.0)"), LRs()
    before, optimizer_before = values(model.variables), values(model.optimizer.variables)
    with caplog.at_level(logging.INFO, logger="lr_callbacks"):
        result = cb.find_lr(model, x, y, batch_size=32, num_steps=100)
    assert_equal(before, values(model.variables))  # the sweep restored everything
    after = values(
        model.optimizer.variables
    )  # the moments the sweep built are back to a fresh optimizer's zeros
    assert_equal(optimizer_before, after[: len(optimizer_before)])
    assert all(not np.any(v) for v in after[len(optimizer_before) :])
    found = cb.controller.schedule
    assert result.suggested_peak_lr is not None and not result.blocking_flags
    assert found == result.apply(parse("cosine(peak_lr=1.0)")) and found.peak_lr == result.suggested_peak_lr
    assert any("Training with cosine(peak_lr=" in r.message for r in caplog.records)
    model.fit(x[:256], y[:256], batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[cb, seen])
    assert seen.lrs[0] == pytest.approx(result.suggested_peak_lr)  # update 0 is cosine's peak
    assert seen.lrs == pytest.approx([found.bind(total_steps=8)(t) for t in range(8)])


def test_lr_callback_find_lr_is_refused_after_training_and_without_a_peak() -> None:
    x, y = digits()
    model, cb = compile_model(), LRCallback("cosine(peak_lr=0.1)")
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    started = r"LRCallback\.find_lr: the range test runs before training"
    with pytest.raises(RuntimeError, match=started):
        cb.find_lr(model, x, y)
    with pytest.raises(RuntimeError, match=started + r".*iterations=2"):  # a fresh callback, a trained model
        LRCallback("cosine(peak_lr=0.1)").find_lr(model, x, y)
    with pytest.raises(ValueError, match=r"LRCallback\.find_lr: find_lr replaces the schedule's peak_lr"):
        LRCallback(lambda t: 0.1).find_lr(compile_model(), x, y)
    with pytest.raises(ValueError, match=r"LRCallback\.find_lr: find_lr options must be among"):
        LRCallback("cosine(peak_lr=0.1)").find_lr(compile_model(), x, y, steps=10)


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
    spec: str | None, optimizer: str, warns: str | None, caplog: Any
) -> None:
    x, y = digits()
    model = make_model()
    lr = 1e-7 if spec is None else 1e-3
    model.compile(
        keras.optimizers.Adam(lr) if optimizer == "adam" else keras.optimizers.SGD(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    cb = LRCallback(spec, scenario="llm_finetuning", total_steps=8)
    with caplog.at_level(logging.WARNING, logger="lr_callbacks"):
        model.fit(x[:64], y[:64], batch_size=32, epochs=2, verbose=0, callbacks=[cb])
        model.fit(x[:64], y[:64], batch_size=32, epochs=2, verbose=0, callbacks=[cb])  # once, not per fit
    messages = [r.message for r in caplog.records if "usual starting LR" in r.message]
    assert len(messages) == (0 if warns is None else 1)
    assert all(warns in message for message in messages)
    with pytest.raises(ValueError, match=r"LRCallback: scenario must be one of"):
        LRCallback(spec, scenario="finetuning")

"""The demo in Keras 3 (torch backend): ``find_lr(model, x, y)`` and ``model.fit(..., callbacks=[LRCallback(...)])``."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lr_callbacks.range_test import RangeTestResult

from .common import SEED, Digits, RunPlan, corrupt_labels

# Imported first: it selects Keras's torch backend unless one was chosen. Through importlib:
# integration modules are outside the strict type check (pyproject).
_keras_integration = importlib.import_module("lr_callbacks.integrations.keras")
import keras  # noqa: E402


def make_model(peak_lr: float) -> Any:
    """The demo's MLP (64 -> 128 -> 10) in Keras, compiled with AdamW."""
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.AdamW(learning_rate=peak_lr), loss=loss, metrics=["accuracy"])
    return model


def _batches(
    data: Digits, batch_size: int, epochs: int, bad_step: int | None
) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]:
    """Shuffled batches for ``epochs`` epochs; batch number ``bad_step`` gets wrong labels."""
    step = 0
    for epoch in range(epochs):
        order = np.random.default_rng(SEED + epoch).permutation(len(data.x_train))
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            labels = data.y_train[index]
            yield data.x_train[index], corrupt_labels(labels) if step == bad_step else labels
            step += 1


def range_test(data: Digits, batch_size: int, num_steps: int, plot: Path) -> RangeTestResult:
    """Keras's ``find_lr`` on the model the runs use."""
    model = make_model(1e-3)
    result: RangeTestResult = _keras_integration.find_lr(
        model, data.x_train, data.y_train, batch_size=batch_size, num_steps=num_steps, plot=plot
    )
    return result


def train(plan: RunPlan, data: Digits, sinks: list[Any]) -> float | None:
    """``model.fit`` with ``LRCallback`` setting the LR of every update."""
    model = make_model(plan.peak_lr)
    steps_per_epoch = -(-len(data.x_train) // plan.batch_size)
    callback = _keras_integration.LRCallback(plan.spec, sinks=sinks)
    model.fit(
        _batches(data, plan.batch_size, plan.epochs, plan.bad_step), epochs=plan.epochs,
        steps_per_epoch=steps_per_epoch, validation_data=(data.x_val, data.y_val), verbose=0,
        callbacks=[callback],
    )  # fmt: skip
    if callback.controller.should_stop:
        return None
    return float(model.evaluate(data.x_val, data.y_val, verbose=0)[1])

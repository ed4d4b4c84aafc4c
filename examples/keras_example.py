"""Keras 3 (torch backend): one callback steps the LR, logs it beside the loss, raises alerts.

Run: ``python examples/keras_example.py`` (CPU, a few seconds after the imports).
Needs ``pip install 'lr-callbacks[keras]' scikit-learn``.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras

import keras
import numpy as np
from sklearn.datasets import load_digits

from lr_callbacks.integrations.keras import LRCallback
from lr_callbacks.sinks import ListSink


def make_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(learning_rate=1e-3), loss=loss, metrics=["accuracy"])
    return model


def main() -> None:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    sink = ListSink()
    lr_callback = LRCallback("warmup_cosine(peak_lr=3e-3, warmup=0.05)", sinks=[sink])
    model = make_model()
    history = model.fit(
        x, y, batch_size=64, epochs=8, validation_split=0.2, verbose=0, callbacks=[lr_callback]
    )
    for epoch, (lr, loss, val) in enumerate(
        zip(
            history.history["learning_rate"],
            history.history["loss"],
            history.history["val_accuracy"],
            strict=True,
        )
    ):
        print(f"epoch {epoch}: learning_rate={lr:.2e} loss={loss:.3f} val_accuracy={val:.3f}")
    print("alerts on the healthy run:", [alert.rule for alert in sink.alerts])
    # Save the callback's state beside the model to resume with fit(..., initial_epoch=k).
    print("state keys:", sorted(json.loads(json.dumps(lr_callback.state_dict()))))

    # A corrupt batch: the NaN stops training at that step with an explained alert.
    x_bad = x.copy()
    x_bad[5 * 64] = np.nan  # first sample of batch 5
    sink = ListSink()
    model = make_model()
    model.fit(
        x_bad,
        y,
        batch_size=64,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[LRCallback("warmup_cosine(peak_lr=3e-3, warmup=0.05)", sinks=[sink])],
    )
    alert = sink.alerts[-1]
    print(f"stopped: {model.stop_training}; {alert.rule} at step {alert.step}: {alert.message}")
    print(f"advice: {alert.advice}")


if __name__ == "__main__":
    main()

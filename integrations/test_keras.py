"""The Keras 3 ``LRCallback`` and ``KerasSchedule`` against real ``model.fit`` on the torch backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ["KERAS_BACKEND"] = "torch"  # before the first import of keras
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")
if keras.backend.backend() != "torch":  # pragma: no cover - keras was imported earlier with another backend
    pytest.skip("these tests need KERAS_BACKEND=torch", allow_module_level=True)

from lr_callbacks.controller import StopTraining  # noqa: E402
from lr_callbacks.diagnostics import NonFiniteRule  # noqa: E402
from lr_callbacks.integrations.keras import KerasSchedule, LRCallback  # noqa: E402
from lr_callbacks.schedules import parse  # noqa: E402
from lr_callbacks.sinks import ListSink  # noqa: E402

SPEC = "warmup_cosine(peak_lr=0.05, warmup=5, min_lr_ratio=0.1)"
N, BATCH = 100, 8  # 13 batches per epoch, the last one of 4 samples
STEPS = 13
ROOT = Path(__file__).resolve().parents[1]


def make_data(n: int = N, poison: int | None = None) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, :1] * 2 + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    y[-4:] *= 5  # the short last batch has its own, larger loss: a wrong weighting shows
    if poison is not None:
        x[poison * BATCH] = np.nan
    return x, y


def make_model(optimizer: Any = None) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer or keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    return model


class Recorder(keras.callbacks.Callback):  # type: ignore[misc]
    """Placed after LRCallback: the LR each micro-batch trains with, the batch logs, and the true batch loss."""

    def __init__(self, x: Any = None, y: Any = None):
        super().__init__()
        self.x, self.y = x, y
        self.lrs: list[float] = []
        self.logs: list[dict[str, float]] = []
        self.losses: list[float] = []
        self.index = 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.index = 0

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        if self.x is not None:  # the loss of this batch, computed independently with the current weights
            xb, yb = self.x[batch * BATCH : (batch + 1) * BATCH], self.y[batch * BATCH : (batch + 1) * BATCH]
            pred = keras.ops.convert_to_numpy(self.model(xb)).astype("float64")
            self.losses.append(float(np.mean((pred - yb) ** 2)))

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.logs.append(dict(logs))


def spy_observations(cb: LRCallback) -> list[tuple[int, float]]:
    seen: list[tuple[int, float]] = []
    observe = cb.controller.observe

    def record(t: int, loss: float, **kwargs: Any) -> Any:
        seen.append((t, loss))
        return observe(t, loss, **kwargs)

    cb.controller.observe = record  # type: ignore[method-assign]
    return seen


def fit(model: Any, cb: Any, x: Any, y: Any, epochs: int = 3, **kwargs: Any) -> tuple[Recorder, Any]:
    recorder = Recorder(x, y)
    history = model.fit(
        x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=[cb, recorder], **kwargs
    )
    return recorder, history


def float32(values: list[float]) -> list[float]:
    return [float(np.float32(v)) for v in values]


def test_lr_follows_the_schedule_every_update_and_is_logged_beside_the_loss() -> None:
    x, y = make_data()
    cb = LRCallback(SPEC, sinks=[], rules=[NonFiniteRule()])
    recorder, history = fit(make_model(), cb, x, y)
    schedule = parse(SPEC).bind(total_steps=3 * STEPS)
    expected = [schedule(t) for t in range(3 * STEPS)]
    assert recorder.lrs == float32(expected)  # the optimizer's LR variable is float32
    assert [logs["learning_rate"] for logs in recorder.logs] == expected
    assert all("loss" in logs for logs in recorder.logs)
    assert history.history["learning_rate"] == [expected[STEPS - 1], expected[2 * STEPS - 1], expected[-1]]


def test_per_batch_loss_is_recovered_from_the_running_mean() -> None:
    x, y = make_data()
    cb = LRCallback(SPEC, sinks=[], rules=[NonFiniteRule()])
    seen = spy_observations(cb)
    recorder, _ = fit(make_model(), cb, x, y, epochs=2)
    assert [t for t, _ in seen] == list(range(2 * STEPS))
    assert [loss for _, loss in seen] == pytest.approx(recorder.losses, rel=2e-5)
    # The running mean Keras logs is not the batch loss (else this test could not fail).
    means = [logs["loss"] for logs in recorder.logs]
    assert means[STEPS - 1] != pytest.approx(recorder.losses[STEPS - 1], rel=0.05)


def test_nan_in_one_batch_stops_training_at_that_step_with_a_nonfinite_alert() -> None:
    x, y = make_data(poison=7)  # batch 7 of every epoch; epoch 0 is clean below
    clean, _ = make_data()
    sink = ListSink()
    cb = LRCallback(SPEC, sinks=[sink], rules=[NonFiniteRule()])
    model = make_model()
    fit(model, cb, clean, y, epochs=1)  # the step goes on from the optimizer's count in the next fit
    cb2 = LRCallback(SPEC, total_steps=3 * STEPS, sinks=[sink], rules=[NonFiniteRule()])
    recorder, _ = fit(model, cb2, x, y, epochs=3, initial_epoch=1)
    assert len(recorder.lrs) == 8  # batches 0..7 of epoch 1, then the stop
    assert model.stop_training
    assert [(a.rule, a.step) for a in sink.alerts] == [("nonfinite", STEPS + 7)]


def test_raise_on_stop_carries_the_alert_out_of_fit() -> None:
    x, y = make_data(poison=3)
    cb = LRCallback(SPEC, sinks=[], rules=[NonFiniteRule()], raise_on_stop=True)
    with pytest.raises(StopTraining) as info:
        fit(make_model(), cb, x, y)
    assert info.value.alert is not None and (info.value.alert.rule, info.value.alert.step) == ("nonfinite", 3)


class StopAfterEpoch(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.model.stop_training = self.model.stop_training or epoch == self.epoch


def run_epochs(
    model: Any, cb: LRCallback, x: Any, y: Any, initial: int = 0, stop: int | None = None
) -> Recorder:
    recorder = Recorder()
    extra = [StopAfterEpoch(stop)] if stop is not None else []
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=4,
        initial_epoch=initial,
        shuffle=False,
        verbose=0,
        validation_data=(x[:16], y[:16]),
        callbacks=[cb, recorder, *extra],
    )
    return recorder


@pytest.mark.parametrize("cut, through_file", [(1, True), (2, False)])
def test_resume_with_initial_epoch_gives_identical_lrs_and_alerts(
    cut: int, through_file: bool, tmp_path: Path
) -> None:
    x, y = make_data(poison=9)  # NaN in batch 9: alerts before and after every cut
    sink = ListSink()
    full = run_epochs(make_model(), LRCallback(SPEC, sinks=[sink], stop_on=()), x, y)
    assert any(a.step >= cut * STEPS for a in sink.alerts)  # else the comparison below could not fail

    model, first_sink, second_sink = make_model(), ListSink(), ListSink()
    cb = LRCallback(SPEC, sinks=[first_sink], stop_on=())
    part = run_epochs(model, cb, x, y, stop=cut - 1)
    state = json.loads(json.dumps(cb.state_dict(), allow_nan=False))
    if through_file:
        model.save(tmp_path / "model.keras")
        model = keras.models.load_model(tmp_path / "model.keras")
    resumed = LRCallback(SPEC, sinks=[second_sink], stop_on=())
    resumed.load_state_dict(state)
    rest = run_epochs(model, resumed, x, y, initial=cut)
    assert part.lrs + rest.lrs == full.lrs
    assert [log["learning_rate"] for log in part.logs + rest.logs] == [
        log["learning_rate"] for log in full.logs
    ]
    both = [a.to_dict() for a in first_sink.alerts + second_sink.alerts]
    assert json.dumps(both) == json.dumps([a.to_dict() for a in sink.alerts])


def test_gradient_accumulation_counts_updates_not_micro_batches() -> None:
    x, y = make_data(n=96)  # 12 micro-batches per epoch, 4 updates of 3
    x, y = x[:96], y[:96]
    spec = "linear(peak_lr=0.05, min_lr_ratio=0.1)"
    cb = LRCallback(spec, sinks=[], rules=[NonFiniteRule()])
    seen = spy_observations(cb)
    model = make_model(keras.optimizers.SGD(learning_rate=0.1, gradient_accumulation_steps=3))
    recorder, _ = fit(model, cb, x, y, epochs=2)
    assert cb.controller.bound is not None and cb.controller.bound.total_steps == 8
    schedule = parse(spec).bind(total_steps=8)
    assert recorder.lrs == float32([schedule(m // 3) for m in range(24)])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 8
    # The loss of an update is the mean of its micro-batch losses (Keras averages their gradients).
    assert [t for t, _ in seen] == list(range(8))
    per_update = [float(np.mean(recorder.losses[3 * u : 3 * u + 3])) for u in range(8)]
    assert [loss for _, loss in seen] == pytest.approx(per_update, rel=2e-5)


def test_val_loss_reaches_the_monitor_at_the_last_update_of_the_epoch() -> None:
    x, y = make_data()
    cb = LRCallback(SPEC, sinks=[], rules=[NonFiniteRule()])
    evals: list[tuple[int, dict[str, float]]] = []
    observe_eval = cb.controller.observe_eval
    cb.controller.observe_eval = lambda t, metrics: (
        evals.append((t, dict(metrics))) or observe_eval(t, metrics)
    )  # type: ignore[method-assign]
    _, history = fit(make_model(), cb, x, y, epochs=2, validation_data=(x[:16], y[:16]))
    assert [t for t, _ in evals] == [STEPS - 1, 2 * STEPS - 1]
    assert [m["val_loss"] for _, m in evals] == history.history["val_loss"]


def test_a_keras_learning_rate_schedule_is_refused_and_schedule_none_only_diagnoses() -> None:
    x, y = make_data()
    decay = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=5, decay_rate=0.5)
    with pytest.raises(TypeError, match=r"would fight it.*schedule=None"):
        fit(make_model(keras.optimizers.SGD(learning_rate=decay)), LRCallback(SPEC, sinks=[]), x, y)
    sink = ListSink()
    model = make_model(keras.optimizers.SGD(learning_rate=decay))
    recorder, _ = fit(model, LRCallback(None, sinks=[sink], rules=[NonFiniteRule()]), x, y, epochs=1)
    assert recorder.lrs == pytest.approx([0.05 * 0.5 ** (t / 5) for t in range(STEPS)], rel=1e-6)
    assert [log["learning_rate"] for log in recorder.logs] == recorder.lrs  # the LR each update used
    assert sink.alerts == []


def test_unknown_length_is_a_clear_error_before_step_one_unless_total_steps_is_given() -> None:
    x, y = make_data()

    def batches() -> Any:
        while True:
            for i in range(0, 96, BATCH):
                yield x[i : i + BATCH], y[i : i + BATCH]

    recorder = Recorder()
    model = make_model()
    with pytest.raises(ValueError, match=r"total_steps=N"):
        model.fit(
            batches(),
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[LRCallback("cosine(peak_lr=0.1)", sinks=[]), recorder],
        )
    assert recorder.lrs == []
    cb = LRCallback("cosine(peak_lr=0.1)", total_steps=20, sinks=[], rules=[NonFiniteRule()])
    model.fit(batches(), epochs=2, steps_per_epoch=10, shuffle=False, verbose=0, callbacks=[cb, recorder])
    schedule = parse("cosine(peak_lr=0.1)").bind(total_steps=20)
    assert recorder.lrs == float32([schedule(t) for t in range(20)])


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="schedule must be a spec string"):
        LRCallback(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total_steps=0"):
        LRCallback(SPEC, total_steps=0)
    with pytest.raises(ValueError, match=r"expected keys \['controller', 'partial', 'version'\]"):
        LRCallback(SPEC).load_state_dict({"version": 1})
    with pytest.raises(TypeError, match="KerasSchedule: schedule must be a spec string or a Schedule"):
        KerasSchedule(lambda t: 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total_steps"):
        KerasSchedule("cosine(peak_lr=1e-3)")
    cb = LRCallback(None, sinks=[])
    cb.set_model(make_model())
    cb.set_params({"epochs": 1, "steps": 2, "verbose": 0})
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    with pytest.raises(ValueError, match=r"hold 'loss'.*got keys \['accuracy'\]"):
        cb.on_train_batch_end(0, {"accuracy": 0.5})


def test_keras_schedule_bridge_trains_saves_and_loads(tmp_path: Path) -> None:
    x, y = make_data()
    spec, total = "cosine(peak_lr=1e-3)", 2 * STEPS
    bridge = KerasSchedule(spec, total_steps=total)
    assert KerasSchedule.from_config(bridge.get_config()).get_config() == bridge.get_config()
    model = make_model(keras.optimizers.Adam(learning_rate=bridge))
    recorder = Recorder()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    schedule = parse(spec).bind(total_steps=total)
    model.save(tmp_path / "bridge.keras")
    loaded = keras.models.load_model(tmp_path / "bridge.keras")  # registered: no custom_objects needed
    assert isinstance(loaded.optimizer._learning_rate, KerasSchedule)
    assert loaded.optimizer._learning_rate.get_config() == bridge.get_config()
    loaded.fit(
        x, y, batch_size=BATCH, epochs=3, initial_epoch=1, shuffle=False, verbose=0, callbacks=[recorder]
    )
    # Past T the LR holds its last value.
    assert recorder.lrs == [schedule(t) for t in range(total)] + [schedule(total)] * STEPS
    # The schedule sees micro-batches under accumulation; the bridge converts them.
    accumulated = KerasSchedule(spec, total_steps=8, gradient_accumulation_steps=3)
    steps = keras.ops.convert_to_tensor(list(range(27)))
    lrs = keras.ops.convert_to_numpy(keras.ops.vectorized_map(accumulated, steps))
    assert lrs.tolist() == [parse(spec).bind(total_steps=8)(min(m // 3, 8)) for m in range(27)]
    assert float(KerasSchedule("constant(peak_lr=0.2)", gradient_accumulation_steps=2)(5)) == 0.2


def test_example_runs() -> None:
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "keras_example.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "learning_rate" in done.stdout and "nonfinite" in done.stdout

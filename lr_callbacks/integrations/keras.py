"""Keras 3: ``model.fit(..., callbacks=[LRCallback(spec)])`` and the ``KerasSchedule`` bridge.

Keras 3 runs here on the torch backend: importing this module before Keras selects it
(``KERAS_BACKEND`` is set to ``torch`` unless you chose a backend already), or choose it
yourself before the first ``import keras``::

    import os
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    from lr_callbacks.integrations.keras import LRCallback

    model.fit(x, y, epochs=10, callbacks=[LRCallback("warmup_cosine(peak_lr=1e-3, warmup=0.05)")])

Translation, not decisions (those are the ``Controller``'s):

- Step ``t`` counts optimizer updates. Under ``gradient_accumulation_steps=k`` Keras's
  ``optimizer.iterations`` is already ``micro_batches // k``; LR schedules, however, are called
  with the raw micro-batch counter, so ``KerasSchedule`` takes ``gradient_accumulation_steps``.
  ``T`` = ``epochs * steps // k`` from ``self.params``; the loss of an update is the plain
  mean of its ``k`` micro-batch losses (Keras averages their gradients the same way).
- The batch ``logs["loss"]`` is the running mean of the epoch, weighted by batch size: the
  loss of batch ``b`` is ``(C_b*m_b - C_{b-1}*m_{b-1}) / (C_b - C_{b-1})`` with ``C_b`` the
  samples seen. ``C_1`` (the batch size) and the epoch's total are read from the loss tracker
  at the first and last batch: two scalar reads per epoch, none per step. The tracker sums in
  float32, so a recovered loss is exact to about ``2*b*2**-24`` of the mean. After a NaN/Inf
  the mean stays non-finite for the rest of the epoch, and so does every loss reported until
  the next epoch (Keras's logs cannot tell more; one streak, one alert).
- ``async_safe`` stays ``False``: the recovery needs the batch ends in order and the stop must
  land at the bad step, so Keras runs batch-end hooks inline (as it does for ``TerminateOnNaN``);
  its own per-step log conversion is the only host read of the loss.
- ``learning_rate`` (Keras's own key) is written into the batch and epoch ``logs`` so
  ``History``, ``CSVLogger`` and the callbacks after this one see it beside ``loss``. Keras's
  ``TensorBoard`` callback needs TensorFlow; use ``lr_callbacks``' own TensorBoard sink instead.
- State: ``state_dict()``/``load_state_dict()`` (strict JSON) next to ``model.save(...)``; the
  step comes back from the restored optimizer, so ``fit(..., initial_epoch=k)`` resumes exactly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
try:
    import keras
except ImportError:  # pragma: no cover - exercised only without keras
    raise ImportError(
        "lr_callbacks.integrations.keras needs Keras 3: pip install 'lr-callbacks[keras]'"
    ) from None

from ..controller import Controller, ScheduleLike, StopTraining
from ..dashboards import dashboard_sinks
from ..schedules import Schedule, parse

STATE_VERSION = 1
LR_KEY = "learning_rate"


def open_writer(log_dir: str) -> Any:
    """A ``SummaryWriter`` on ``log_dir``: torch's (the backend's), as Keras's own TensorBoard needs TensorFlow."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(
            "LRCallback(tensorboard_dir=...) needs torch and TensorBoard: pip install 'lr-callbacks[keras,torch,tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=log_dir)


def _read(value: Any) -> float:
    return float(keras.ops.convert_to_numpy(value))


class LRCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Sets the LR of every optimizer update from the schedule, diagnoses the loss, stops on alerts.

    Args:
        schedule: a spec string, a ``Schedule``, a callable ``t -> lr``, or ``None`` to keep the
            optimizer's own LR (then the callback reads it once per step and only diagnoses).
        total_steps: optimizer updates in the run, when ``epochs * steps`` is unknown.
        steps_per_epoch: optimizer updates per epoch (for lengths in epochs).
        rules, sinks, stop_on: the diagnostics (see ``lr_callbacks.diagnostics.Monitor``).
        raise_on_stop: raise ``StopTraining`` (with the ``Alert``) out of ``fit`` instead of only
            setting ``model.stop_training``.
        writer: a ``SummaryWriter`` to write the dashboards to (LR per group, loss, smoothed loss,
            alert level, the Custom Scalars layout, alerts as text; see ``lr_callbacks.dashboards``).
        tensorboard_dir: open a ``SummaryWriter`` (torch's) on this directory for them instead.
        wandb_run: a ``wandb`` run to log them to (``run.alert`` for the alerts).
        report_path: write ``lr-callbacks report``'s picture (``.png``) or page (``.html``) at ``close()``.

    Raises:
        ValueError: the schedule needs ``total_steps`` and Keras cannot tell it (raised by ``fit``
            before step 1); the batch logs hold no ``loss``.
        TypeError: the optimizer's LR is a ``LearningRateSchedule`` or a callable (it would fight
            the schedule).
    """

    async_safe = False

    def __init__(
        self,
        schedule: ScheduleLike = None,
        *,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        rules: Sequence[Any] | None = None,
        sinks: Sequence[Any] | None = None,
        stop_on: Sequence[str] = ("nonfinite",),
        raise_on_stop: bool = False,
        writer: Any = None,
        tensorboard_dir: str | os.PathLike[str] | None = None,
        wandb_run: Any = None,
        report_path: str | os.PathLike[str] | None = None,
    ):
        super().__init__()
        self.controller = Controller(
            schedule,
            rules=rules,
            sinks=sinks,
            stop_on=stop_on,
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )
        for sink in dashboard_sinks(writer=writer, tensorboard_dir=tensorboard_dir, open_writer=open_writer,
                                    wandb_run=wandb_run, report_path=report_path):  # fmt: skip
            self.controller.add_metric_sink(sink)
        self.raise_on_stop = raise_on_stop
        self.micro = 0  # micro-batches the optimizer has seen (Keras's raw counter)
        self.accumulation = 1
        self._partial: list[float] = [0.0, 0]  # sum and count of micro-batch losses of the open update
        self._lr: float | None = None  # the LR this callback set last
        self._last_lr: float | None = None  # the LR of the last update seen (set or read)
        self.on_epoch_begin(0)

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        self.accumulation = int(getattr(optimizer, "gradient_accumulation_steps", None) or 1)
        self.micro = int(_read(optimizer._iterations))  # one read per fit: the resumed step
        if self.controller.schedule is not None and not isinstance(optimizer._learning_rate, keras.Variable):
            raise TypeError(
                f"LRCallback: the optimizer's learning rate must be a float to follow the schedule; got "
                f"learning_rate={optimizer._learning_rate!r}, which would fight it. Build the optimizer with "
                f"learning_rate=<float>, or pass LRCallback(schedule=None) to keep yours and only diagnose."
            )
        epochs, steps, k = self.params.get("epochs"), self.params.get("steps"), self.accumulation
        total = epochs * steps // k if epochs and steps else None
        per_epoch = steps // k if steps and steps % k == 0 else None
        # Several fit() calls with one callback are one run (fit(..., initial_epoch=k) resumes it).
        carried = self.controller.state_dict() if self.controller.monitor is not None else None
        self.controller.start(total, per_epoch, [1.0])
        if carried is not None:
            self.controller.load_state_dict(carried)
        self._lr = None  # set the LR of the first batch whatever the optimizer holds now

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._seen, self._mean, self._per_batch, self._poisoned = 0.0, 0.0, 1.0, False

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        lrs = self.controller.lrs(self.micro // self.accumulation)
        if lrs is None:  # the user's LR, read before the update that uses it
            self._last_lr = _read(self.model.optimizer.learning_rate)
            return
        if lrs[0] != self._lr:
            self.model.optimizer.learning_rate = self._lr = lrs[0]
        self._last_lr = self._lr

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        loss = self._batch_loss(batch, logs)
        t = self.micro // self.accumulation
        self.micro += 1
        logs[LR_KEY] = lr = self._last_lr
        self._partial = [self._partial[0] + loss, self._partial[1] + 1]
        if self.micro % self.accumulation == 0:
            total, count = self._partial
            self._partial = [0.0, 0]
            self.controller.observe(t, total / count, lrs=None if lr is None else [lr])
        self._update_stop()

    def _batch_loss(self, batch: int, logs: Mapping[str, Any]) -> float:
        if "loss" not in logs:
            raise ValueError(
                f"LRCallback: expected the batch logs to hold 'loss' (Keras's running mean); got keys "
                f"{sorted(logs)}. Compile the model with a loss, or return {{'loss': ...}} from train_step."
            )
        if self._poisoned:  # the mean cannot tell more: report non-finite, keep the steps contiguous
            return math.nan
        mean, seen = float(logs["loss"]), self._seen
        if batch == 0:
            self._per_batch = self._tracker_count() or 1.0
        last = self.params.get("steps")
        counted = (
            self._tracker_count() if last and batch == last - 1 and batch else None
        )  # a short last batch
        self._seen = counted or seen + self._per_batch
        loss = (self._seen * mean - seen * self._mean) / (self._seen - seen) if batch else mean
        self._mean, self._poisoned = mean, not math.isfinite(mean)
        return loss if math.isfinite(mean) else mean

    def _tracker_count(self) -> float | None:
        for metric in self.model.metrics:
            if metric.name == "loss" and hasattr(metric, "count"):
                return _read(metric.count)
        return None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        if self._last_lr is not None:
            logs[LR_KEY] = self._last_lr
        if "val_loss" in logs:
            self.controller.observe_eval(
                max(self.micro // self.accumulation - 1, 0), {"val_loss": logs["val_loss"]}
            )
            self._update_stop()

    def _update_stop(self) -> None:
        if self.controller.should_stop:
            self.model.stop_training = True
            if self.raise_on_stop:
                raise StopTraining(self.controller.stop_alert())

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.controller.close()

    @property
    def alerts(self) -> list[Any]:
        """Every alert so far."""
        return self.controller.alerts

    def state_dict(self) -> dict[str, Any]:
        """Strict-JSON state to save beside the model; the step itself comes from the optimizer."""
        total, count = self._partial
        partial = [total if math.isfinite(total) else None, count]
        return {"version": STATE_VERSION, "partial": partial, "controller": self.controller.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned (before ``fit``); rejects missing or unknown keys."""
        expected = {"version", "partial", "controller"}
        if set(state) != expected or state["version"] != STATE_VERSION:
            raise ValueError(
                f"LRCallback.load_state_dict: expected keys {sorted(expected)} with version={STATE_VERSION}; got "
                f"{sorted(state)} (version={state.get('version')!r}). Pass the dict returned by state_dict()."
            )
        self.controller.load_state_dict(state["controller"])
        total, count = state["partial"]
        self._partial = [math.nan if total is None else float(total), int(count)]


@keras.saving.register_keras_serializable(package="lr_callbacks")
class KerasSchedule(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """Our schedule as a Keras ``LearningRateSchedule``; saves and loads through its spec string.

    The LRs of updates ``0..T`` are tabulated once, so a call on the optimizer's step tensor is
    a device-side lookup (no host read); steps past ``T`` hold the last value. Without ``T``
    (schedules that do not need it) each call reads the step to the host.

    Args:
        schedule: a spec string or a ``Schedule`` (a bare callable cannot be saved).
        total_steps, steps_per_epoch: the run's lengths, in optimizer updates.
        gradient_accumulation_steps: the optimizer's; Keras calls schedules with micro-batches.

    Example:
        >>> opt = keras.optimizers.Adam(learning_rate=KerasSchedule("cosine(peak_lr=1e-3)", total_steps=100))
    """

    def __init__(
        self,
        schedule: str | Schedule,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ):
        if not isinstance(schedule, (str, Schedule)):
            raise TypeError(
                f"KerasSchedule: schedule must be a spec string or a Schedule (it is saved as its spec); got "
                f"schedule={schedule!r}. Example: 'cosine(peak_lr=1e-3)'."
            )
        self.schedule = parse(schedule) if isinstance(schedule, str) else schedule
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self.accumulation = gradient_accumulation_steps or 1
        self.bound = self.schedule.bind(total_steps=total_steps, steps_per_epoch=steps_per_epoch)
        self._table: Any = None

    def __call__(self, step: Any) -> Any:
        if self.total_steps is None:
            return float(self.bound(int(_read(step)) // self.accumulation))
        if self._table is None:
            values = [self.bound(t) for t in range(self.total_steps + 1)]
            self._table = keras.ops.convert_to_tensor(values, dtype="float64")
        index = keras.ops.minimum(keras.ops.floor_divide(step, self.accumulation), self.total_steps)
        return keras.ops.take(self._table, keras.ops.cast(index, "int32"))

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.to_spec(),
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "gradient_accumulation_steps": None if self.accumulation == 1 else self.accumulation,
        }

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
  its own per-step log conversion is the only host read of the loss. On a GPU the LR goes to
  the optimizer's variable through ``DeviceWriter`` (pinned memory, no sync): assigning a float
  would be a host-to-device copy that waits for the GPU at every update.
- ``learning_rate`` (Keras's own key) is written into the batch and epoch ``logs`` so
  ``History``, ``CSVLogger`` and the callbacks after this one see it beside ``loss``. Keras's
  ``TensorBoard`` callback needs TensorFlow; use ``lr_callbacks``' own TensorBoard sink instead.
- State: ``state_dict()``/``load_state_dict()`` (strict JSON) next to ``model.save(...)``; the
  step comes back from the restored optimizer, so ``fit(..., initial_epoch=k)`` resumes exactly.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
try:
    import keras
except ImportError:  # pragma: no cover - exercised only without keras
    raise ImportError(
        "lr_callbacks.integrations.keras needs Keras 3: pip install 'lr-callbacks[keras]'"
    ) from None

from ..controller import Controller, ScheduleLike, StopTraining
from ..dashboards import dashboard_sinks
from ..deferred import DeviceWriter
from ..range_test import RangeTest, RangeTestResult, peak_lr_of, schedule_after_range_test, sweep_options
from ..schedules import Schedule, parse
from ..starting_lr import check_scenario, starting_lr_warning

STATE_VERSION = 1
LR_KEY = "learning_rate"
_log = logging.getLogger("lr_callbacks")


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
        scenario: what you train (``"llm_finetuning"``, ``"cnn_scratch"``, ... see
            ``lr_callbacks.starting_lr``): at train start, warn once (``lr_callbacks`` logger) when
            the peak LR is more than 10x outside the guide's range for it and the optimizer's
            family (Adam-like or SGD, from ``model.optimizer``'s class).

    Run the range test before training with ``cb.find_lr(model, x, y)``: it replaces the
    schedule's ``peak_lr`` with the suggestion.

    Raises:
        ValueError: the schedule needs ``total_steps`` and Keras cannot tell it (raised by ``fit``
            before step 1); the batch logs hold no ``loss``; an unknown ``scenario``.
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
        scenario: str | None = None,
    ):
        super().__init__()
        self.scenario = check_scenario("LRCallback", scenario)
        self._advised = False
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
        self._lr_writer: DeviceWriter | None = None  # sets the LR on a GPU without a sync
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
        variable = getattr(optimizer._learning_rate, "value", None)
        self._lr_writer = DeviceWriter(variable) if getattr(variable, "is_cuda", False) else None
        if self.scenario is not None and not self._advised:
            self._advised = True
            schedule = self.controller.schedule
            peak = peak_lr_of(schedule) if schedule is not None else _read(optimizer.learning_rate)
            message = starting_lr_warning(self.scenario, peak, type(optimizer).__name__)
            if message is not None:
                _log.warning("LRCallback: %s", message)

    def find_lr(self, model: Any, x: Any, y: Any = None, **options: Any) -> RangeTestResult:
        """Run the range test before training and train with its suggestion as the schedule's ``peak_lr``.

        The sweep is this module's ``find_lr(model, x, y, **options)`` (everything it touches is
        restored). The suggestion replaces the schedule's ``peak_lr`` unless a blocking flag is
        set; then the schedule stays as written, with a warning
        (``lr_callbacks.range_test.schedule_after_range_test``). The line is logged on the
        ``lr_callbacks`` logger.

        Args:
            model, x, y: as for ``find_lr`` (the compiled model you will ``fit`` with this callback).
            options: ``start_lr``, ``end_lr``, ``num_steps``, ``mode``, ``plot``, ``batch_size``.

        Raises:
            RuntimeError: this callback already trained, or the model's optimizer already made updates.
            ValueError: the schedule has no ``peak_lr``, or an option is unknown.
        """
        optimizer = getattr(model, "optimizer", None)
        done = int(_read(optimizer.iterations)) if optimizer is not None else 0  # None: find_lr says why
        if self.controller.monitor is not None or done:
            raise RuntimeError(
                f"LRCallback.find_lr: the range test runs before training; got a callback that already "
                f"started training or an optimizer with iterations={done}. Call cb.find_lr(model, x, y) before "
                f"model.fit(..., callbacks=[cb])."
            )
        schedule = self.controller.schedule
        sweep = sweep_options("LRCallback.find_lr", options, schedule, extra=("batch_size",))
        result = find_lr(model, x, y, **(sweep or {}))
        new, line, applied = schedule_after_range_test(schedule, result)  # type: ignore[arg-type]
        _log.log(logging.INFO if applied else logging.WARNING, "LRCallback: %s", line)
        self.controller.schedule = new
        return result

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._seen, self._mean, self._per_batch, self._poisoned = 0.0, 0.0, 1.0, False

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        lrs = self.controller.lrs(self.micro // self.accumulation)
        if lrs is None:  # the user's LR, read before the update that uses it
            self._last_lr = _read(self.model.optimizer.learning_rate)
            return
        if lrs[0] != self._lr:
            self._lr = lrs[0]
            if self._lr_writer is None:
                self.model.optimizer.learning_rate = self._lr
            else:  # no pageable host-to-device copy, which would wait for the GPU
                self.model.optimizer._learning_rate.assign(self._lr_writer.write(self._lr))
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


# --- LR range test ---------------------------------------------------------------------------------


def find_lr(
    model: Any,
    x: Any,
    y: Any = None,
    *,
    batch_size: int = 32,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    plot: str | os.PathLike[str] | None = None,
) -> RangeTestResult:
    """Run an LR range test on a compiled Keras model, then put it back exactly as it was.

    Batches of ``batch_size`` rows of ``x``/``y`` (arrays, or dicts/lists of arrays) in a fixed
    shuffled order (a private generator: no global RNG is drawn), repeated when shorter than the
    sweep; or, with ``y=None`` and ``x`` not an array, ``(x, y)`` batches from the iterable ``x``.
    Per optimizer update ``i`` the LR is ``RangeTest.lr(i)`` and ``gradient_accumulation_steps``
    micro-batches go through ``model.train_on_batch``, whose loss is that batch's own (its
    metrics are reset per call): the raw per-update loss is their mean, never Keras's running
    mean of the epoch.

    Restored in ``finally`` (also after an early stop or an exception): every model variable
    (weights, BatchNorm statistics, seed generators), every optimizer variable (iterations,
    learning rate, moments, accumulators), the metrics' variables, the RNG states (``random``,
    numpy, torch, and Keras's generator for unseeded ``keras.random`` calls), and the compiled
    loss and metrics as they were: left unbuilt when no training call has built them yet, so the
    first ``fit`` after the sweep draws the RNG exactly as it would have without it. A model
    without its input shape (no ``keras.Input``) is built, with its initial weights, before the
    sweep, and keeps them.

    Args:
        model: a compiled ``keras.Model`` whose optimizer's ``learning_rate`` is a float.
        x, y, batch_size: the data, as for ``fit``.
        start_lr, end_lr, num_steps, mode: the sweep (see ``lr_callbacks.range_test.RangeTest``).
        plot: a path to draw the curve to (``lr_callbacks.report.plot_range_test``).

    Returns:
        The ``RangeTestResult``: ``result.suggested_peak_lr``, ``result.apply(schedule)``.

    Raises:
        TypeError: the model is not compiled, or its LR is a ``LearningRateSchedule``.
        ValueError: a sweep argument is out of range, or there is no data.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not isinstance(optimizer._learning_rate, keras.Variable):
        raise TypeError(
            f"find_lr: the model must be compiled with an optimizer whose learning_rate is a float; got "
            f"optimizer={optimizer!r}. Call model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=...) first."
        )
    test = RangeTest(start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, mode=mode)
    snapshot = _KerasSnapshot(model)
    try:
        batches = _batches(x, y, batch_size)
        first = next(batches)
        snapshot.build(first)
        _sweep(test, model, itertools.chain([first], batches))
    finally:
        snapshot.restore()
    result = test.result()
    if plot is not None:
        from ..report import plot_range_test

        plot_range_test(result, os.fspath(plot))
    return result


def _sweep(test: RangeTest, model: Any, batches: Iterator[tuple[Any, Any]]) -> None:
    accumulation = int(getattr(model.optimizer, "gradient_accumulation_steps", None) or 1)
    step = 0
    while not test.should_stop:
        model.optimizer.learning_rate = test.lr(step)
        losses = []
        for _ in range(accumulation):
            inputs, targets = next(batches)
            losses.append(_read(model.train_on_batch(inputs, targets, return_dict=True)["loss"]))
        test.record(step, sum(losses) / accumulation)
        step += 1


def _batches(x: Any, y: Any, batch_size: int) -> Iterator[tuple[Any, Any]]:
    if y is None and not hasattr(x, "shape") and not isinstance(x, (dict, list, tuple)):
        yield from _repeat(x)
        return
    rows = len(keras.tree.flatten(x)[0])
    if rows == 0 or isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"find_lr: expected data rows and batch_size an int >= 1; got {rows} rows, batch_size={batch_size!r}. "
            f"Pass the arrays you would give fit()."
        )
    order = np.random.default_rng(0).permutation(rows)
    while True:
        for start in range(0, rows, batch_size):
            index = order[start : start + batch_size]
            yield _take(x, index), None if y is None else _take(y, index)


def _take(tree: Any, index: Any) -> Any:
    return keras.tree.map_structure(lambda array: array[index], tree)


def _repeat(batches: Any) -> Iterator[tuple[Any, Any]]:
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch[0], batch[1]
        if empty:
            raise ValueError(
                f"find_lr: x must yield (x, y) batches; got x={batches!r} with none. Pass arrays."
            )


class _KerasSnapshot:
    """Copies of every variable a range test touches, and the RNG states; ``restore()`` puts them back.

    Keras's first ``fit`` on a model whose compiled loss or metrics are unbuilt (Keras's
    ``Trainer._symbolic_build``) takes a batch from its data loader to build them, which draws the
    torch RNG; once built, ``fit`` draws nothing. So the sweep builds fresh copies of those unbuilt
    objects, and ``restore()`` puts back the unbuilt originals for the next ``fit`` to build.
    """

    def __init__(self, model: Any) -> None:
        import random

        import torch

        self.model = model
        self.optimizer = model.optimizer
        self.rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        self.global_seed = _global_seed_generator()
        self.global_state = (
            None if self.global_seed is None else np.array(self.global_seed.state.numpy(), copy=True)
        )
        self.learning_rate = np.array(self.optimizer._learning_rate.numpy(), copy=True)
        self.compiled = {
            "_compile_loss": model._compile_loss,
            "_compile_metrics": model._compile_metrics,
            "train_function": model.train_function,  # None until a training call makes it
        }
        _set_untracked(
            model,
            _compile_loss=_fresh_if_unbuilt(model._compile_loss),
            _compile_metrics=_fresh_if_unbuilt(model._compile_metrics),
        )
        self.optimizer_variables: list[tuple[Any, Any]] = []
        self.variables: list[tuple[Any, Any]] = []

    def build(self, batch: tuple[Any, Any]) -> None:
        """Build what the first training call would (weights, optimizer, loss, metrics), then copy it."""
        self.model._symbolic_build(data_batch=(*batch, None))
        self.optimizer_variables = [(v, np.array(v.numpy(), copy=True)) for v in self.optimizer.variables]
        self.variables = [
            (v, np.array(v.numpy(), copy=True))
            for v in [*self.model.variables, *self.model.metrics_variables]
        ]

    def restore(self) -> None:
        import random

        import torch

        for variable, value in [*self.variables, *self.optimizer_variables]:
            variable.assign(value)
        self.optimizer._learning_rate.assign(self.learning_rate)
        random.setstate(self.rng[0])
        np.random.set_state(self.rng[1])
        torch.set_rng_state(self.rng[2])
        _set_global_seed_generator(self.global_seed, self.global_state)
        _set_untracked(self.model, **self.compiled)


def _global_seed_generator() -> Any:
    """Keras's generator for unseeded ``keras.random`` calls; ``None`` until their first use."""
    from keras.src.backend.common import global_state

    return global_state.get_global_attribute("global_seed_generator")


def _set_global_seed_generator(generator: Any, state: Any) -> None:
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("global_seed_generator", generator)  # None: made again on first use
    if generator is not None:
        generator.state.assign(state)


def _set_untracked(model: Any, **attributes: Any) -> None:
    # As ``compile`` sets them: through Keras's tracking a metric would join ``model.metrics`` twice.
    for name, value in attributes.items():
        object.__setattr__(model, name, value)


def _fresh_if_unbuilt(compiled: Any) -> Any:
    """An unbuilt copy of Keras's ``CompileLoss``/``CompileMetrics`` to build in its place; else itself."""
    if compiled is None or compiled.built:
        return compiled
    if hasattr(compiled, "_user_loss"):
        return type(compiled)(
            compiled._user_loss,
            compiled._user_loss_weights,
            reduction=compiled.reduction,
            output_names=compiled.output_names,
        )
    return type(compiled)(
        compiled._user_metrics, compiled._user_weighted_metrics, output_names=compiled.output_names
    )

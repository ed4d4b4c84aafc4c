"""PyTorch Lightning: ``Trainer(callbacks=[LRCallback("warmup_cosine(peak_lr=3e-4, warmup=0.05)")])``.

One class for both packages: ``LRCallback`` subclasses the ``Callback`` of every installed
flavour (``lightning.pytorch`` and ``pytorch_lightning``), so it works with either ``Trainer``
and from a LightningCLI config (``class_path: lr_callbacks.integrations.lightning.LRCallback``).

Per optimizer update ``t = trainer.global_step``: the LR of every param group is set from the
schedule before the first micro-batch; the update's loss is the mean of its micro-batch losses
(``outputs["loss"]`` times the accumulation factor, summed on the device), read without a host
sync; LR and loss go to every logger of the trainer under ``lr_callbacks/...`` at step ``t``.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

try:
    import torch
except ImportError:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "lr_callbacks.integrations.lightning needs PyTorch: pip install 'lr-callbacks[lightning]'"
    ) from None

from ..controller import Controller, ScheduleLike, StopTraining
from ..dashboards import TensorBoardSink, WandbSink
from ..deferred import DeferredScalars, Landed, check_loss
from ..diagnostics.validate import check_int
from ..range_test import RangeTest, RangeTestResult, peak_lr_of, schedule_after_range_test, sweep_options
from ..schedules import Schedule
from ..starting_lr import check_scenario, starting_lr_warning
from ._torch_snapshot import TorchSnapshot

CALLBACK_BASES: list[type] = []
try:
    from lightning.pytorch import Callback as _LightningCallback

    CALLBACK_BASES.append(_LightningCallback)
except ImportError:
    pass
try:  # the standalone package: its Trainer only accepts its own Callback subclasses
    from pytorch_lightning import Callback as _PyTorchLightningCallback

    CALLBACK_BASES.append(_PyTorchLightningCallback)
except ImportError:
    pass
if not CALLBACK_BASES:
    raise ImportError(
        "lr_callbacks.integrations.lightning needs Lightning: pip install 'lr-callbacks[lightning]' "
        "(or pip install pytorch-lightning)"
    )

STATE_VERSION = 1
_log = logging.getLogger("lr_callbacks")


class LRCallback(*CALLBACK_BASES):  # type: ignore[misc]
    """Steps the LR of every param group per optimizer update, logs it beside the loss, raises the alerts.

    Args:
        schedule: a spec string, a ``Schedule``, a callable ``t -> lr``, or ``None`` to keep the
            LR of your own ``lr_scheduler`` (then the callback only logs and diagnoses).
        total_steps: optimizer updates in the run, when the Trainer cannot tell (iterable data).
        steps_per_epoch: optimizer updates per epoch (default: train batches / accumulation).
        rules, sinks, stop_on: the diagnostics (see ``lr_callbacks.diagnostics.Monitor``).
        raise_on_stop: raise ``StopTraining`` (with the ``Alert``) instead of setting ``trainer.should_stop``.
        stop_check_every: reduce the stop decision across ranks every this many updates.
        report_path: write ``lr-callbacks report``'s picture (``.png``) or page (``.html``) here at
            the end of training.
        find_lr: ``True`` or a dict of ``find_lr`` options (``start_lr``, ``end_lr``, ``num_steps``,
            ``mode``, ``plot``): at train start of a fresh fit, run this module's ``find_lr`` on the
            fit's own model and train dataloader (everything restored), log the suggestion and
            train with it as the schedule's ``peak_lr``; with a blocking flag the schedule stays
            as written, with a warning (``lr_callbacks.range_test.schedule_after_range_test``).
        scenario: what you train (``"llm_finetuning"``, ``"cnn_scratch"``, ... see
            ``lr_callbacks.starting_lr``): at train start, warn once (rank 0, ``lr_callbacks``
            logger) when the peak LR is more than 10x outside the guide's range for it and the
            optimizer's family (Adam-like or SGD, from its class).

    The trainer's ``TensorBoardLogger`` and ``WandbLogger`` get the dashboards (see
    ``lr_callbacks.dashboards``): every update's LR, loss, smoothed loss and alert level, the
    Custom Scalars layout and the alerts as text (TensorBoard), ``run.alert`` and an alerts
    table (W&B, on ``trainer/global_step``). Other loggers get ``lr_callbacks/lr/group{i}`` and
    ``lr_callbacks/loss`` through ``log_metrics``.

    Raises:
        ValueError: at train start, the schedule needs ``total_steps`` and the Trainer cannot tell it.
        RuntimeError: at train start, ``configure_optimizers`` returned an ``lr_scheduler`` as well.
        ValueError: ``find_lr`` with a schedule without ``peak_lr``; at train start, ``find_lr`` on a
            resumed fit or with several processes (run ``find_lr`` once before, and write its peak).

    Example:
        >>> callback = LRCallback("warmup_cosine(peak_lr=3e-4, warmup=0.05)")
        >>> callback.state_key  # the checkpoint key: one per schedule
        "LRCallback{'schedule': 'warmup_cosine(peak_lr=0.0003, warmup=0.05)'}"
    """

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
        stop_check_every: int = 1,
        report_path: str | os.PathLike[str] | None = None,
        find_lr: bool | Mapping[str, Any] = False,
        scenario: str | None = None,
    ) -> None:
        self._sweep = sweep_options("LRCallback", find_lr, schedule)
        self.scenario = check_scenario("LRCallback", scenario)
        self._arguments: dict[str, Any] = dict(
            schedule=schedule, rules=rules, sinks=sinks, stop_on=tuple(stop_on),
            total_steps=total_steps, steps_per_epoch=steps_per_epoch,
        )  # fmt: skip
        self.controller = Controller(**self._arguments)
        self.raise_on_stop = raise_on_stop
        self.stop_check_every = check_int("LRCallback", "stop_check_every", stop_check_every, 1)
        self.losses = DeferredScalars(width=1)
        self._restored: Mapping[str, Any] | None = None
        self._started, self._step, self._lrs = False, 0, [0.0]
        self._set: list[float] | None = None
        self._sum: Any = None
        self._count = 0
        self._loggers: list[Any] = []
        self._optimizers: list[Any] = []
        self.report_path = report_path
        self._warned: set[str] = set()
        self._state_key: str | None = None

    @property
    def state_key(self) -> str:
        # Lightning asks for it around every hook: computed once (the schedule never changes).
        if self._state_key is None:
            schedule = self.controller.schedule
            name = (
                schedule.to_spec()
                if isinstance(schedule, Schedule)
                else getattr(schedule, "__qualname__", None)
            )
            self._state_key = self._generate_state_key(schedule=name)
        return self._state_key

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # One diagnosis per fit, continued when Lightning restored one from a checkpoint.
        arguments = dict(self._arguments)
        if self._sweep is not None:
            arguments["schedule"] = self._range_tested(trainer, pl_module)
        self.controller = Controller(**arguments)
        if self._restored is not None:
            self.controller.load_state_dict(self._restored)
            self._restored = None
        owned = self.controller.schedule is not None
        if owned and trainer.lr_scheduler_configs:
            name = type(trainer.lr_scheduler_configs[0].scheduler).__name__
            raise RuntimeError(
                f"LRCallback: configure_optimizers returned an lr_scheduler ({name}) for the optimizer whose LR "
                f"this callback sets; Lightning would step it after ours and overwrite the schedule. Use one of "
                f"them: drop the lr_scheduler from configure_optimizers, or pass schedule=None to keep yours."
            )
        # As torch's schedulers do, keep each group's starting LR in the group: the optimizer state
        # restored on resume carries it, so the proportions between groups stay exact.
        self._optimizers = trainer.optimizers  # fixed for the fit: the per-update hooks skip the lookup
        groups = _groups(self._optimizers)
        base = [
            float(g.setdefault("initial_lr", g["lr"]) if owned else g.get("initial_lr", g["lr"]))
            for g in groups
        ]
        # Ask the Trainer only for what the user did not give (it raises when accumulation varies by epoch).
        total = self.controller.total_steps or _count(trainer.estimated_stepping_batches)
        per_epoch = self.controller.steps_per_epoch or _count(
            trainer.num_training_batches / trainer.accumulate_grad_batches
        )
        self.controller.start(total, per_epoch, base, trainer.global_rank, trainer.world_size)
        self._loggers = (
            [lg for lg in trainer.loggers if not self._attach(lg)] if trainer.is_global_zero else []
        )
        if self.report_path is not None and trainer.is_global_zero:
            from ..run_report import RunRecorder

            self.controller.add_metric_sink(RunRecorder(self.report_path))
        self._started, self._set = True, None
        if self.scenario is not None and trainer.is_global_zero and "scenario" not in self._warned:
            self._advise(groups, type(trainer.optimizers[0]).__name__)

    def _range_tested(self, trainer: Any, pl_module: Any) -> Schedule:
        schedule: Schedule = self.controller.schedule  # type: ignore[assignment]  # sweep_options checked it
        if trainer.global_step > 0 or trainer.world_size > 1:
            raise ValueError(
                f"LRCallback: find_lr runs at the start of a fresh single-process fit; got "
                f"global_step={trainer.global_step}, world_size={trainer.world_size}. Run find_lr(trainer, model) "
                f"once beforehand and write its suggested peak_lr into the schedule."
            )
        # The fit's own data source (what Trainer.fit was given, or the module's/datamodule's hook).
        loader = trainer.fit_loop._data_source.dataloader()
        result = find_lr(trainer, pl_module, train_dataloaders=loader, **(self._sweep or {}))
        new, line, applied = schedule_after_range_test(schedule, result)
        if trainer.is_global_zero:
            _log.log(logging.INFO if applied else logging.WARNING, "LRCallback: %s", line)
        return new

    def _advise(self, groups: list[dict[str, Any]], optimizer: str) -> None:
        schedule = self.controller.schedule
        peak = peak_lr_of(schedule) if schedule is not None else float(groups[0]["lr"])
        message = starting_lr_warning(self.scenario, peak, optimizer)
        if message is not None:
            self._warned.add("scenario")
            _log.warning("LRCallback: %s", message)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        groups, self._step = _groups(self._optimizers), trainer.global_step
        if self._set is not None and [g["lr"] for g in groups] != self._set:
            raise RuntimeError(
                f"LRCallback: the LR of the param groups was changed outside the callback (set {self._set}, "
                f"found {[g['lr'] for g in groups]}), e.g. by a scheduler stepped by hand. Use one of them: drop "
                f"the other scheduler, or pass schedule=None to keep yours and let LRCallback only log and diagnose."
            )
        lrs = self.controller.lrs(self._step)
        if lrs is not None:  # idempotent over the micro-batches of one update
            for group, lr in zip(groups, lrs, strict=True):
                group["lr"] = lr
            self._set = lrs
        self._lrs = lrs if lrs is not None else [float(g["lr"]) for g in groups]

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        updated = trainer.global_step != self._step
        if updated and self._sum is None and trainer.accumulate_grad_batches == 1:
            mean = None if loss is None else check_loss(loss)  # one micro-batch, the update's loss as it is
        else:
            if loss is not None:
                loss = check_loss(loss)
                loss = loss.detach() if isinstance(loss, torch.Tensor) else loss
                self._sum = loss if self._sum is None else self._sum + loss  # on the device: no sync
                self._count += 1
            if not updated:
                return  # still accumulating: the update has not happened yet
            # Lightning divided each micro-batch loss by the accumulation factor: undo it, take the mean.
            factor = trainer.accumulate_grad_batches / max(self._count, 1)
            mean = None if self._sum is None else self._sum if factor == 1 else self._sum * factor
        if mean is None:
            self._warn_once(
                "loss", "training_step returned no loss, so LRCallback cannot diagnose; return it"
            )
            landed = self.losses.ready()
        else:
            landed = self.losses.take(self._step, (mean,), self._lrs)
        self._sum, self._count = None, 0
        self._observe(landed)
        if (self._step + 1) % self.stop_check_every == 0:
            self._update_stop(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        value = trainer.callback_metrics.get("val_loss")
        if not self._started or trainer.sanity_checking or value is None:
            return
        self._observe(self.losses.drain())  # after an evaluation, a flush point: keep the order
        self.controller.observe_eval(max(trainer.global_step - 1, 0), {"val_loss": float(value)})
        self._update_stop(trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._observe(self.losses.drain())
        self.controller.close()
        self._started = False

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.controller.close()

    def _observe(self, landed: list[Landed]) -> None:
        for step, (loss,), lrs in landed:
            value = float("nan") if loss is None else loss
            self.controller.observe(step, value, lrs=lrs)
            if not self._loggers:
                continue
            metrics = {f"lr_callbacks/lr/group{i}": lr for i, lr in enumerate(lrs)}
            metrics["lr_callbacks/loss"] = value
            for logger in self._loggers:
                try:
                    logger.log_metrics(metrics, step=step)
                except Exception as error:  # a failing logger never kills training
                    self._warn_once(
                        f"logger{id(logger)}", f"logger {logger!r} failed ({error!r}); it is skipped"
                    )
                    self._loggers = [other for other in self._loggers if other is not logger]

    def _attach(self, logger: Any) -> bool:
        """Hand a TensorBoard or W&B logger's client to a dashboard sink (then it is not logged to twice)."""
        kind = type(logger).__name__
        if kind not in ("TensorBoardLogger", "WandbLogger"):
            return False
        try:
            client = logger.experiment
            sink = (
                TensorBoardSink(client)
                if kind == "TensorBoardLogger"
                else WandbSink(client, "trainer/global_step")
            )
        except Exception as error:  # a logger that cannot start never kills training
            self._warn_once(f"logger{id(logger)}", f"logger {logger!r} failed ({error!r}); it is skipped")
            return True
        self.controller.add_metric_sink(sink)
        return True

    def _update_stop(self, trainer: Any) -> None:
        stop = self.controller.should_stop if self.controller.world_size == 1 else self._reduce_stop(trainer)
        if stop and self.raise_on_stop:
            raise StopTraining(self.controller.stop_alert())
        trainer.should_stop = trainer.should_stop or stop

    def _reduce_stop(self, trainer: Any) -> bool:
        # One tiny all-reduce (every rank at the same update) and one host read per check.
        table = torch.zeros(trainer.world_size, 2, dtype=torch.float64, device=trainer.strategy.root_device)
        table[trainer.global_rank] = torch.tensor(self.controller.stop_code(), dtype=torch.float64)
        return self.controller.decide_stop(trainer.strategy.reduce(table, reduce_op="sum").tolist())

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log.warning("LRCallback: %s.", message)

    @property
    def alerts(self) -> list[Any]:
        """Every alert so far."""
        return self.controller.alerts

    def state_dict(self) -> dict[str, Any]:
        """Strict-JSON state saved in the checkpoint (waits for losses still in flight)."""
        self._observe(self.losses.drain())
        return {"version": STATE_VERSION, "controller": self.controller.state_dict()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the diagnostics; the LR is recomputed from the restored ``global_step``."""
        if set(state_dict) != {"version", "controller"} or state_dict["version"] != STATE_VERSION:
            raise ValueError(
                f"LRCallback.load_state_dict: expected keys ['controller', 'version'] with version={STATE_VERSION}; "
                f"got {dict(state_dict)!r:.200}. Pass the dict returned by state_dict()."
            )
        self.controller.load_state_dict(state_dict["controller"])  # validates now, in the user's names
        self._restored = state_dict["controller"]


def _groups(optimizers: list[Any]) -> list[dict[str, Any]]:
    return [group for optimizer in optimizers for group in optimizer.param_groups]


def _count(value: float) -> int | None:
    """A length the Trainer reports, rounded up (a last partial window is an update), or ``None`` for ``inf``/``-1``."""
    return math.ceil(value) if math.isfinite(value) and value > 0 else None


# --- LR range test ---------------------------------------------------------------------------------


def find_lr(
    trainer: Any,
    model: Any,
    train_dataloaders: Any = None,
    datamodule: Any = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    plot: str | os.PathLike[str] | None = None,
) -> RangeTestResult:
    """Run an LR range test through a real Lightning fit, then put the model back exactly as it was.

    The sweep runs on a throwaway ``Trainer`` built from ``trainer``'s essentials (its device,
    ``precision``, ``accumulate_grad_batches``, ``gradient_clip_val``/``_algorithm``), with no
    logger, no checkpointing, no validation and only the sweep's own callback: your ``trainer``
    (its ``global_step``, loops, callbacks and loggers) is never used. Per optimizer update
    ``i``, every param group's LR is ``RangeTest.lr(i)`` (other groups keep their ratio to group
    0); the raw loss of the update (the mean of its micro-batch ``outputs["loss"]``) is recorded;
    an update that AMP's scaler skipped is not a ladder step; the epoch repeats until the sweep
    ends or diverges (see ``lr_callbacks.range_test.RangeTest``).

    Restored in ``finally`` (also after an early stop or an exception): every parameter and
    buffer bit for bit (on its device and dtype), their gradients, train/eval modes, the
    module's (and ``datamodule``'s) ``trainer`` and device attributes, the state of
    ``trainer.optimizers`` and the RNG states (``random``, numpy, torch CPU and CUDA).

    Args:
        trainer: your ``Trainer``; only read.
        model: the ``LightningModule``; its ``configure_optimizers`` builds the sweep's optimizer.
        train_dataloaders, datamodule: the data, as for ``Trainer.fit`` (default: the module's own).
        start_lr, end_lr, num_steps, mode: the sweep (see ``RangeTest``).
        plot: a path to draw the curve to (``lr_callbacks.report.plot_range_test``).

    Returns:
        The ``RangeTestResult``: ``result.suggested_peak_lr``, ``result.apply(schedule)``.

    Raises:
        ValueError: a sweep argument is out of range, or ``training_step`` returned no loss.
    """
    test = RangeTest(start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, mode=mode)
    snapshot = TorchSnapshot(model, trainer.optimizers)
    attributes = _LightningAttributes(model, datamodule)
    try:
        sweeper = _sweep_trainer(trainer, _Sweep(test), num_steps)
        sweeper.fit(model, train_dataloaders=train_dataloaders, datamodule=datamodule)
    finally:
        snapshot.restore()
        attributes.restore()
    result = test.result()
    if plot is not None:
        from ..report import plot_range_test

        plot_range_test(result, os.fspath(plot))
    return result


class _Sweep(*CALLBACK_BASES):  # type: ignore[misc]
    """The throwaway Trainer's only callback: sets the sweep's LR, records each update's raw loss."""

    def __init__(self, test: RangeTest) -> None:
        self.test, self.index = test, 0
        self._base: list[float] | None = None
        self._scale: float | None = None
        self._step, self._sum, self._count = 0, 0.0, 0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        groups = _groups(trainer.optimizers)
        self._base = self._base or [float(group["lr"]) for group in groups]
        lr = self.test.lr(self.index)
        for group, base in zip(groups, self._base, strict=True):
            group["lr"] = lr * base / self._base[0] if self._base[0] > 0 else lr
        self._step, self._scale = trainer.global_step, _scale(trainer)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is None:
            raise ValueError(
                "find_lr: training_step must return the loss (a tensor or {'loss': ...}); got None. "
                "Return the loss that Lightning optimizes."
            )
        self._sum, self._count = self._sum + float(loss), self._count + 1
        if trainer.global_step == self._step:
            return  # still accumulating: the update has not happened yet
        # Lightning divided each micro-batch loss by the accumulation factor: undo it, take the mean.
        mean = self._sum * trainer.accumulate_grad_batches / self._count
        self._sum, self._count = 0.0, 0
        scale = _scale(trainer)
        if scale is not None and self._scale is not None and scale < self._scale and math.isfinite(mean):
            return  # AMP skipped this update: the ladder does not move
        self.test.record(self.index, mean)
        self.index += 1
        trainer.should_stop = trainer.should_stop or self.test.should_stop


def _scale(trainer: Any) -> float | None:
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    return float(scaler.get_scale()) if scaler is not None else None


def _sweep_trainer(trainer: Any, sweep: _Sweep, num_steps: int) -> Any:
    """A fresh Trainer of the same package with ``trainer``'s device, precision, accumulation and clipping."""
    package = importlib.import_module(type(trainer).__module__.partition(".trainer")[0])
    device = trainer.strategy.root_device
    return package.Trainer(
        accelerator=device.type,
        devices=[device.index] if device.type == "cuda" and device.index is not None else 1,
        precision=trainer.precision,
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        gradient_clip_val=trainer.gradient_clip_val,
        gradient_clip_algorithm=trainer.gradient_clip_algorithm,
        default_root_dir=trainer.default_root_dir,
        max_epochs=-1,  # repeat the data until the sweep ends
        max_steps=2 * num_steps,  # a bound even if AMP skipped every other update
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[sweep],
    )


class _LightningAttributes:
    """What a fit sets on the module (and its submodules) and the datamodule besides tensors."""

    _KEYS = ("_trainer", "_device", "_dtype", "_current_fx_name")

    def __init__(self, model: Any, datamodule: Any) -> None:
        self.saved = [
            (module, {key: module.__dict__[key] for key in self._KEYS if key in module.__dict__})
            for module in model.modules()
        ]
        self.datamodule = datamodule
        self.datamodule_trainer = getattr(datamodule, "trainer", None)

    def restore(self) -> None:
        for module, values in self.saved:
            module.__dict__.update(values)
        if self.datamodule is not None:
            self.datamodule.trainer = self.datamodule_trainer

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
from ..schedules import Schedule

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

    The trainer's ``TensorBoardLogger`` and ``WandbLogger`` get the dashboards (see
    ``lr_callbacks.dashboards``): every update's LR, loss, smoothed loss and alert level, the
    Custom Scalars layout and the alerts as text (TensorBoard), ``run.alert`` and an alerts
    table (W&B, on ``trainer/global_step``). Other loggers get ``lr_callbacks/lr/group{i}`` and
    ``lr_callbacks/loss`` through ``log_metrics``.

    Raises:
        ValueError: at train start, the schedule needs ``total_steps`` and the Trainer cannot tell it.
        RuntimeError: at train start, ``configure_optimizers`` returned an ``lr_scheduler`` as well.

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
    ) -> None:
        self._arguments: dict[str, Any] = dict(
            schedule=schedule, rules=rules, sinks=sinks, stop_on=tuple(stop_on),
            total_steps=total_steps, steps_per_epoch=steps_per_epoch,
        )  # fmt: skip
        self.controller = Controller(**self._arguments)
        self.raise_on_stop = raise_on_stop
        self.stop_check_every = check_int("LRCallback", "stop_check_every", stop_check_every, 1)
        self.losses = DeferredScalars(width=1)
        self._restored: Mapping[str, Any] | None = None
        self._started, self._step, self._lrs, self._set = False, 0, [0.0], None
        self._sum: Any = None
        self._count = 0
        self._loggers: list[Any] = []
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
        self.controller = Controller(**self._arguments)
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
        groups = _groups(trainer)
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

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        groups, self._step = _groups(trainer), trainer.global_step
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
        if loss is not None:
            loss = check_loss(loss)
            loss = loss.detach() if isinstance(loss, torch.Tensor) else loss
            self._sum = loss if self._sum is None else self._sum + loss  # on the device: no sync
            self._count += 1
        if trainer.global_step == self._step:
            return  # still accumulating: the update has not happened yet
        if self._sum is None:
            self._warn_once(
                "loss", "training_step returned no loss, so LRCallback cannot diagnose; return it"
            )
        else:  # Lightning divided each micro-batch loss by the accumulation factor
            factor = trainer.accumulate_grad_batches / self._count
            mean = self._sum if factor == 1 else self._sum * factor
            self.losses.push(self._step, (mean,), self._lrs)
        self._sum, self._count = None, 0
        self._observe(self.losses.ready())
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
        stop = self.controller.should_stop if trainer.world_size == 1 else self._reduce_stop(trainer)
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


def _groups(trainer: Any) -> list[dict[str, Any]]:
    return [group for optimizer in trainer.optimizers for group in optimizer.param_groups]


def _count(value: float) -> int | None:
    """A length the Trainer reports, rounded up (a last partial window is an update), or ``None`` for ``inf``/``-1``."""
    return math.ceil(value) if math.isfinite(value) and value > 0 else None

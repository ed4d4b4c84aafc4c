"""Hugging Face ``Trainer``: ``Trainer(..., callbacks=[LRCallback("warmup_cosine(peak_lr=3e-4, warmup=0.05)")])``.

How each of HF's traps is handled:

* The LR. HF always builds a scheduler and logs ``lr_scheduler.get_last_lr()[0]`` as
  ``learning_rate``. With a schedule, ``on_train_begin`` puts a `ScheduleLR` in the Trainer's
  scheduler slot: HF steps it once per optimizer update (never per micro-batch), logs the LR it
  applied and checkpoints it; ``lr_scheduler_type`` and ``warmup_steps`` are then unused. A
  scheduler the user passed with ``optimizers=`` is refused, never overwritten.
* The loss. Callbacks are not given it, so ``on_train_begin`` wraps ``trainer.training_step``
  (undone at ``on_train_end``): whatever computes the loss (the model, ``compute_loss``,
  ``compute_loss_func``, label smoothing), the rules get it, summed over an update's micro-batches
  as HF sums it, read without a host sync (`DeferredScalars`). HF's default
  ``logging_nan_inf_filter=True`` hides a NaN in HF's own logs; the rules see it anyway.
* Logging. Keys a callback adds in ``on_log`` reach no reporter (user callbacks run after them),
  and HF logs only every ``logging_steps``. So the loss and the LR of every group of every update
  go to the `TensorBoardCallback`'s own writer (rank 0) as ``lr_callbacks/loss`` and
  ``lr_callbacks/lr/group<i>``, at HF's step index (``global_step`` after the update), beside HF's
  ``train/loss`` and ``train/learning_rate``.
* Resume. The state rides in ``trainer_state.json`` (``ExportableState``) and is read back from
  ``state.stateful_callbacks`` at ``on_train_begin``, whether or not
  ``restore_callback_states_from_checkpoint`` is set. One instance per Trainer.
* Many processes. Every rank sets the same LR; the stop decision is all-reduced every
  ``stop_check_every`` updates, so all ranks stop at the same step; only rank 0 writes and alerts.

HF gives callbacks no handle on the Trainer (its own ``JITCheckpointCallback`` needs a private
``set_trainer``), so ``on_train_begin`` finds the Trainer whose callback list holds this callback
among the calling frames. The grad norm is not passed to callbacks and is not observed.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    import torch
    from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
    from transformers.integrations.integration_utils import TensorBoardCallback
    from transformers.trainer_callback import ExportableState
except ImportError:  # pragma: no cover - exercised only without transformers
    raise ImportError(
        "lr_callbacks.integrations.transformers needs transformers: pip install 'lr-callbacks[transformers]'"
    ) from None

from ..controller import Controller, ScheduleLike, StopTraining
from ..dashboards import TensorBoardSink, WandbSink
from ..deferred import DeferredScalars, Landed, check_loss
from ..diagnostics.validate import check_int
from ..range_test import RangeTest, RangeTestResult, peak_lr_of, schedule_after_range_test, sweep_options
from ..schedules import Schedule
from ..starting_lr import check_scenario, starting_lr_warning
from ._torch_snapshot import TorchSnapshot

logger = logging.getLogger("lr_callbacks")
STATE_VERSION = 1
_STATE_KEYS = {"version", "step", "controller"}


class ScheduleLR(torch.optim.lr_scheduler.LambdaLR):
    """The Trainer's scheduler while `LRCallback` owns the LR: ``lr_lambdas[i](t)`` is group i's LR.

    A ``LambdaLR`` whose lambdas are plain functions (saved as ``None``), so that its checkpoint
    loads into the scheduler HF builds on resume; ``lrs(t)`` gives every group's LR in one call.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, lrs: Callable[[int], list[float]], last_epoch: int
    ) -> None:
        self._lrs = lrs  # before LambdaLR's __init__, which steps once
        lambdas = [_group_lr(lrs, i) for i in range(len(optimizer.param_groups))]
        super().__init__(optimizer, lambdas, last_epoch=last_epoch)

    def get_lr(self) -> list[float | torch.Tensor]:
        return list(self._lrs(self.last_epoch))

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        del state["_lrs"]  # the callback's method: the LR is recomputed from the step on resume
        return state


def _group_lr(lrs: Callable[[int], list[float]], index: int) -> Callable[[int], float]:
    def lr(t: int) -> float:
        return lrs(t)[index]

    return lr


class LRCallback(TrainerCallback, ExportableState):
    """Steps the LR of a ``transformers.Trainer``, logs it beside the loss, raises the alerts.

    Args:
        schedule: a spec string, a ``Schedule``, a callable ``t -> lr``, or ``None`` to keep HF's
            scheduler (then the callback only logs and diagnoses).
        total_steps: optimizer updates in the run (default: HF's ``state.max_steps``).
        steps_per_epoch: optimizer updates per epoch, for lengths in epochs (default: from the
            train dataloader's length and ``gradient_accumulation_steps``).
        rules, sinks, stop_on: the diagnostics (see ``lr_callbacks.diagnostics.Monitor``).
        raise_on_stop: raise ``StopTraining`` (with the ``Alert``) instead of only stopping.
        stop_check_every: reduce the stop decision across ranks every this many updates.
        find_lr: ``True`` or a dict of ``find_lr`` options (``start_lr``, ``end_lr``, ``num_steps``,
            ``mode``, ``plot``): at train start of a fresh single-process run (before update 0),
            run this module's ``find_lr`` on the Trainer (everything restored), log the suggestion
            and train with it as the schedule's ``peak_lr``; with a blocking flag the schedule
            stays as written, with a warning (``lr_callbacks.range_test.schedule_after_range_test``).
        scenario: what you train (``"llm_finetuning"``, ``"cnn_scratch"``, ... see
            ``lr_callbacks.starting_lr``): at train start, warn once (rank 0, ``lr_callbacks``
            logger) when the peak LR is more than 10x outside the guide's range for it and the
            optimizer's family (Adam-like or SGD, from the Trainer's optimizer class).

    Raises:
        ValueError: a bad argument; at ``Trainer(...)``, a scheduler given with ``optimizers=``
            while ``schedule`` is set; at train start, a schedule that needs ``total_steps``;
            ``find_lr`` with a schedule without ``peak_lr``; at train start, ``find_lr`` on a
            resumed run or with several processes (run ``find_lr`` once before, and write its peak).
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
        find_lr: bool | Mapping[str, Any] = False,
        scenario: str | None = None,
    ):
        self._sweep = sweep_options("LRCallback", find_lr, schedule)
        self.scenario = check_scenario("LRCallback", scenario)
        check_int("LRCallback", "stop_check_every", stop_check_every, 1)
        self.controller = Controller(
            schedule, rules=rules, sinks=sinks, stop_on=stop_on, total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )  # fmt: skip
        spec = self.controller.schedule
        # What the Trainer's own restore (``type(cb)(**args)``) can rebuild: JSON only.
        self._portable = rules is None and sinks is None and (spec is None or isinstance(spec, Schedule))
        self._args = {
            "schedule": spec.to_spec() if isinstance(spec, Schedule) else None,
            "total_steps": total_steps, "steps_per_epoch": steps_per_epoch, "stop_on": list(stop_on),
            "raise_on_stop": raise_on_stop, "stop_check_every": stop_check_every, "scenario": self.scenario,
        }  # fmt: skip
        self.raise_on_stop, self.stop_check_every = raise_on_stop, stop_check_every
        self.losses = DeferredScalars(width=1)
        self.step_count = 0
        self._trainer: Trainer | None = None
        self._original_step: Any = None
        self._wrapper: Any = None
        self._scheduler: ScheduleLR | None = None
        self._dashboards_attached = False
        self._loss: Any = None
        self._lrs: list[float] = []
        self._warned = False
        self._advised = False
        self._stop = False

    def on_init_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.controller.schedule is not None and kw.get("lr_scheduler") is not None:
            raise ValueError(_FOUGHT)
        if args.restore_callback_states_from_checkpoint and not self._portable:
            raise ValueError(
                "LRCallback: with restore_callback_states_from_checkpoint=True the Trainer rebuilds callbacks from "
                "JSON, which cannot carry rules=, sinks= or a schedule without a spec string; got "
                "restore_callback_states_from_checkpoint=True. Leave it False: LRCallback restores its state anyway."
            )

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        groups = kw["optimizer"].param_groups
        base = [group.setdefault("initial_lr", group["lr"]) for group in groups]
        per_epoch = _steps_per_epoch(kw.get("train_dataloader"), args.gradient_accumulation_steps)
        total = state.max_steps if state.max_steps > 0 else None
        if self._sweep is not None:  # before the schedule is bound: it may get a new peak
            self._range_test(_calling_trainer(self), args, state)
        self.controller.start(total, per_epoch, base, args.process_index, args.world_size)
        self.step_count = state.global_step
        stored: Any = state.stateful_callbacks or {}  # a dict once loaded from trainer_state.json
        if state.global_step > 0:
            self._resume(stored.get(type(self).__name__), state.global_step)
        self._trainer = trainer = _calling_trainer(self)
        if sum(isinstance(c, LRCallback) for c in trainer.callback_handler.callbacks) > 1:
            raise ValueError(
                "LRCallback: expected one LRCallback per Trainer (both would set the LR, and HF keys callback "
                "state by class name); got several in trainer.callback_handler.callbacks. Keep one."
            )
        if self.scenario is not None and self.controller.is_main and not self._advised:
            optimizer = kw["optimizer"]
            self._advise(groups, getattr(optimizer, "optimizer", optimizer))  # accelerate wraps it
        if self.controller.schedule is not None:
            self._own_scheduler(trainer, kw["optimizer"], state.global_step)
        self._wrap_training_step(trainer)
        if args.logging_nan_inf_filter and self.controller.is_main and not self._warned:
            self._warned = True
            logger.warning(
                "LRCallback: logging_nan_inf_filter=True (HF's default) replaces a NaN/Inf loss in HF's logs and "
                "reads the loss on the host twice per micro-batch. LRCallback still sees the real loss; set "
                "TrainingArguments(logging_nan_inf_filter=False) so that HF's logs show it too, without the syncs."
            )

    def _range_test(self, trainer: Trainer, args: TrainingArguments, state: TrainerState) -> None:
        schedule: Schedule = self.controller.schedule  # type: ignore[assignment]  # sweep_options checked it
        if state.global_step > 0 or args.world_size > 1:
            raise ValueError(
                f"LRCallback: find_lr runs at the start of a fresh single-process run; got "
                f"global_step={state.global_step}, world_size={args.world_size}. Run find_lr(trainer) once "
                f"beforehand and write its suggested peak_lr into the schedule."
            )
        result = find_lr(trainer, **self._sweep or {})
        trainer.state = state  # find_lr restores a copy: keep the object HF's loop and callbacks hold
        new, line, applied = schedule_after_range_test(schedule, result)
        if args.process_index == 0:
            logger.log(logging.INFO if applied else logging.WARNING, "LRCallback: %s", line)
        self.controller.schedule = new
        self._args["schedule"] = new.to_spec()  # a restored callback trains on with the schedule found

    def _advise(self, groups: list[dict[str, Any]], optimizer: torch.optim.Optimizer) -> None:
        schedule = self.controller.schedule
        peak = peak_lr_of(schedule) if schedule is not None else float(groups[0]["lr"])
        message = starting_lr_warning(self.scenario, peak, type(optimizer).__name__)
        self._advised = True
        if message is not None:
            logger.warning("LRCallback: %s", message)

    def _attach_dashboards(self, trainer: Trainer) -> None:
        # The writers HF's own reporting callbacks hold; HF logs update t at global_step t + 1. Done
        # at the first update's end, when every callback's on_train_begin (which opens them) has run.
        self._dashboards_attached = True
        if not self.controller.is_main:
            return
        callbacks = trainer.callback_handler.callbacks
        tensorboard = next((c for c in callbacks if isinstance(c, TensorBoardCallback)), None)
        wandb = next((c for c in callbacks if type(c).__name__ == "WandbCallback"), None)
        run = getattr(getattr(wandb, "_wandb", None), "run", None)
        if tensorboard is not None and tensorboard.tb_writer is not None:
            self.controller.add_metric_sink(TensorBoardSink(tensorboard.tb_writer, step_offset=1))
        if run is not None:
            self.controller.add_metric_sink(WandbSink(run, "train/global_step", step_offset=1))

    def _own_scheduler(self, trainer: Trainer, optimizer: torch.optim.Optimizer, t: int) -> None:
        if not getattr(trainer, "_created_lr_scheduler", True) and not isinstance(
            trainer.lr_scheduler, ScheduleLR
        ):
            raise ValueError(_FOUGHT)
        self._scheduler = ScheduleLR(optimizer, self._lrs_of, last_epoch=t - 1)  # sets the LR of update t
        trainer.lr_scheduler = trainer.callback_handler.lr_scheduler = self._scheduler

    def _lrs_of(self, t: int) -> list[float]:
        return self.controller.lrs(t)  # type: ignore[return-value]  # a schedule is set: never None

    def _wrap_training_step(self, trainer: Trainer) -> None:
        self._unwrap()
        inner = trainer.training_step

        def training_step(*args: Any, **kwargs: Any) -> Any:
            loss = check_loss(inner(*args, **kwargs))
            self._loss = loss if self._loss is None else self._loss + loss  # on device: no sync
            return loss

        self._original_step = trainer.__dict__.get("training_step")  # usually none: the class's method
        trainer.training_step = self._wrapper = training_step  # type: ignore[method-assign]

    def _unwrap(self) -> None:
        trainer = self._trainer
        if (
            trainer is not None
            and self._wrapper is not None
            and trainer.__dict__.get("training_step") is self._wrapper
        ):
            del trainer.training_step
            if self._original_step is not None:
                trainer.training_step = self._original_step  # type: ignore[method-assign]

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        scheduler, t = self._scheduler, state.global_step
        if scheduler is not None and scheduler.last_epoch != t:  # e.g. an update AMP skipped: still a step
            scheduler.last_epoch = t - 1
            scheduler.step()

    def on_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._lrs = [float(group["lr"]) for group in kw["optimizer"].param_groups]  # the LRs this update used

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        t = self.step_count = state.global_step
        if self._loss is None:
            raise ValueError(
                f"LRCallback: no training loss reached the callback for update {t - 1}; got loss=None. Train with "
                f"Trainer.train() and let training_step return the loss tensor."
            )
        if not self._dashboards_attached:
            self._attach_dashboards(self._trainer)
        landed = self.losses.take(t - 1, (self._loss,), self._lrs)
        self._loss = None
        self._observe(landed)
        if t >= state.max_steps:
            self._observe(self.losses.drain())
        if t % self.stop_check_every == 0 or t >= state.max_steps:
            self._update_stop(args, control)

    def _observe(self, landed: list[Landed]) -> None:
        for step, (loss,), lrs in landed:
            self.controller.observe(step, loss if loss is not None else math.nan, lrs=lrs)

    def _update_stop(self, args: TrainingArguments, control: TrainerControl) -> None:
        if args.world_size > 1 and torch.distributed.is_initialized():
            stop = self._reduce_stop(args.process_index, args.world_size, args.device)
        else:
            stop = self.controller.should_stop
        self._stop = stop
        if stop:
            control.should_training_stop = True
            if self.raise_on_stop:
                self._unwrap()
                raise StopTraining(self.controller.stop_alert())

    def _reduce_stop(self, rank: int, world: int, device: torch.device) -> bool:
        # One tiny all-reduce and one host read per check: every rank learns who stopped and when.
        table = torch.zeros(world, 2, dtype=torch.float64, device=device)
        table[rank] = torch.tensor(self.controller.stop_code(), dtype=torch.float64)
        torch.distributed.all_reduce(table)
        return self.controller.decide_stop(table.tolist())

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._observe(self.losses.drain())  # HF has just read its loss on the host: a flush point

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        metrics = kw.get("metrics") or {}
        if self.controller.monitor is None or "eval_loss" not in metrics:
            return  # evaluate() outside train(), or a model without a loss
        self._observe(self.losses.drain())
        self.controller.observe_eval(max(state.global_step - 1, 0), {"val_loss": float(metrics["eval_loss"])})

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._observe(self.losses.drain())
        self._unwrap()
        self.controller.close()

    @property
    def should_stop(self) -> bool:
        """True once the stop policy fired (on any rank, under torch.distributed)."""
        return self._stop

    @property
    def alerts(self) -> list[Any]:
        """Every alert so far."""
        return self.controller.alerts

    def state(self) -> dict[str, Any]:
        """``ExportableState``: the constructor's JSON arguments and the resumable state."""
        if self.controller.monitor is not None:
            self._observe(self.losses.drain())  # a checkpoint is a flush point
        resume = {
            "version": STATE_VERSION,
            "step": self.step_count,
            "controller": self.controller.state_dict(),
        }
        return {"args": dict(self._args), "attributes": {"resume_state": resume}}

    def _resume(self, saved: Any, step: int) -> None:
        if saved is None:
            logger.warning(
                "LRCallback: resumed at step %d from a checkpoint without LRCallback state; the LR follows the "
                "schedule from that step, the diagnostics start afresh.", step,
            )  # fmt: skip
            return
        resume = saved.get("attributes", {}).get("resume_state") if isinstance(saved, Mapping) else None
        if not isinstance(resume, Mapping) or set(resume) != _STATE_KEYS or resume["step"] != step:
            raise ValueError(
                f"LRCallback: the checkpoint's LRCallback state must be one dict with keys {sorted(_STATE_KEYS)} "
                f"saved at step {step} (the resumed global_step); got {str(saved)[:200]}. Use one LRCallback per "
                f"Trainer (HF keys callback state by class name) and resume from a checkpoint it wrote."
            )
        if resume["version"] != STATE_VERSION:
            raise ValueError(
                f"LRCallback: expected state version={STATE_VERSION}; got version={resume['version']!r}. "
                f"The checkpoint was written by another release."
            )
        self.controller.load_state_dict(resume["controller"])


_FOUGHT = (
    "LRCallback: got a schedule, and the Trainer was given its own lr_scheduler (optimizers=(optimizer, "
    "lr_scheduler)); both would set the LR. Pass optimizers=(optimizer, None) to let LRCallback schedule, or "
    "LRCallback(schedule=None) to keep your scheduler and only log and diagnose."
)


def _steps_per_epoch(dataloader: Any, accumulation: int) -> int | None:
    try:
        batches = len(dataloader)
    except TypeError:  # an iterable dataset: epochs have no known length
        return None
    return max(-(-batches // accumulation), 1)  # HF's rule: a last partial accumulation is an update


def _calling_trainer(callback: TrainerCallback) -> Trainer:
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Trainer) and any(c is callback for c in owner.callback_handler.callbacks):
            return owner
        frame = frame.f_back  # type: ignore[assignment]
    raise RuntimeError(
        "LRCallback: on_train_begin was not called by a transformers.Trainer holding this callback. Pass it as "
        "Trainer(..., callbacks=[LRCallback(...)]) or trainer.add_callback(...)."
    )


# --- LR range test ---------------------------------------------------------------------------------


def find_lr(
    trainer: Trainer,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    plot: str | os.PathLike[str] | None = None,
) -> RangeTestResult:
    """Run an LR range test on a ``transformers.Trainer``'s model and data, then put everything back.

    The sweep trains ``trainer.model`` on ``trainer.get_train_dataloader()`` (repeated when
    shorter than the sweep) with the optimizer the Trainer would use: the one you passed with
    ``optimizers=``, else a fresh one from ``trainer.create_optimizer()`` (HF's optimizer, weight
    decay groups and arguments; dropped afterwards). Per optimizer update ``i``:
    ``args.gradient_accumulation_steps`` micro-batches, each loss from ``trainer.compute_loss``
    (so a custom ``compute_loss``/``compute_loss_func`` counts) under the Trainer's autocast,
    gradients clipped to ``args.max_grad_norm``, every group's LR ``RangeTest.lr(i)`` (other
    groups keep their ratio to group 0). The raw per-update loss (the mean of its micro-batch
    losses) is recorded, never HF's windowed, rounded ``logs["loss"]``. ``trainer.train()`` is
    not called: no callback, logger or checkpoint sees the sweep.

    Restored in ``finally`` (also after an early stop or an exception): every parameter and
    buffer bit for bit, their gradients, train/eval modes, the optimizer's state and groups,
    ``trainer.optimizer``, ``trainer.lr_scheduler``, ``trainer.state`` and the RNG states
    (``random``, numpy, torch CPU and CUDA).

    Args:
        trainer: the ``Trainer`` you will train with (built, not yet trained, or between runs).
        start_lr, end_lr, num_steps, mode: the sweep (see ``lr_callbacks.range_test.RangeTest``).
        plot: a path to draw the curve to (``lr_callbacks.report.plot_range_test``).

    Returns:
        The ``RangeTestResult``: ``result.suggested_peak_lr``, ``result.apply(schedule)``.

    Raises:
        TypeError: ``trainer`` is not a ``transformers.Trainer``.
        ValueError: a sweep argument is out of range, or the train dataloader is empty.
    """
    if not isinstance(trainer, Trainer):
        raise TypeError(
            f"find_lr: trainer must be a transformers.Trainer; got trainer={trainer!r}. Pass the Trainer you "
            f"will call train() on."
        )
    if not isinstance(trainer.model, torch.nn.Module):
        raise ValueError(
            f"find_lr: the Trainer needs a model; got trainer.model={trainer.model!r}. Build the Trainer with "
            f"model= (or model_init=)."
        )
    test = RangeTest(start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, mode=mode)
    saved = {key: trainer.__dict__.get(key) for key in ("optimizer", "lr_scheduler")}
    state = copy.deepcopy(trainer.state)
    # After train(), accelerate's wrapper may skip step() outside its accumulate(): use the optimizer inside.
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    snapshot = TorchSnapshot(trainer.model, [optimizer] if optimizer is not None else [])
    try:
        _sweep(test, trainer, optimizer if optimizer is not None else trainer.create_optimizer())
    finally:
        snapshot.restore()
        trainer.__dict__.update(saved)
        trainer.state = state
    result = test.result()
    if plot is not None:
        from ..report import plot_range_test

        plot_range_test(result, os.fspath(plot))
    return result


def _sweep(test: RangeTest, trainer: Trainer, optimizer: torch.optim.Optimizer) -> None:
    model: torch.nn.Module = trainer.model  # type: ignore[assignment]
    args = trainer.args
    model.train()
    stream = _cycle(trainer.get_train_dataloader())
    base = [float(group["lr"]) for group in optimizer.param_groups]
    step = 0
    while not test.should_stop:
        lr = test.lr(step)
        for group, group_base in zip(optimizer.param_groups, base, strict=True):
            group["lr"] = lr * group_base / base[0] if base[0] > 0 else lr
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(args.gradient_accumulation_steps):
            with trainer.compute_loss_context_manager():
                loss: torch.Tensor = trainer.compute_loss(model, trainer._prepare_inputs(next(stream)))  # type: ignore[assignment]
            (loss / args.gradient_accumulation_steps).backward()  # type: ignore[no-untyped-call]
            total += float(loss.detach())
        if args.max_grad_norm is not None and args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        test.record(step, total / args.gradient_accumulation_steps)
        step += 1


def _cycle(dataloader: Any) -> Any:
    """The dataloader's batches again and again."""
    while True:
        empty = True
        for batch in dataloader:
            empty = False
            yield batch
        if empty:
            raise ValueError(
                "find_lr: the Trainer's train dataloader must yield batches; got none. Give the Trainer a "
                "non-empty train_dataset."
            )

"""Plain PyTorch loops: ``LRCallback(schedule, optimizer, total_steps=N)`` and ``cb.step(loss)``.

Example loop::

    cb = LRCallback("warmup_cosine(peak_lr=3e-4, warmup=0.05)", optimizer, total_steps=N)
    for batch in batches:                  # cb has set the LR of update 0
        loss = model(batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        cb.step(loss)                      # records this update's loss, sets the next LR
        if cb.should_stop:
            break
    cb.close()
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import torch
except ImportError:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "lr_callbacks.integrations.torch needs PyTorch: pip install 'lr-callbacks[torch]'"
    ) from None

from ..controller import Controller, ScheduleLike, StopTraining
from ..dashboards import dashboard_sinks
from ..deferred import DeferredScalars, Landed, check_loss
from ..diagnostics.validate import check_int
from ..range_test import RangeTest, RangeTestResult, peak_lr_of, schedule_after_range_test, sweep_options
from ..starting_lr import check_scenario, starting_lr_warning
from ._torch_snapshot import TorchSnapshot

STATE_VERSION = 1
_log = logging.getLogger("lr_callbacks")


def open_writer(log_dir: str) -> Any:
    """torch's ``SummaryWriter`` on ``log_dir`` (needs the tensorboard package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(
            "LRCallback(tensorboard_dir=...) needs TensorBoard: pip install 'lr-callbacks[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=log_dir)


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside ``torch.distributed``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class LRCallback:
    """Steps the LR of a plain PyTorch loop, records every update's loss, raises the alerts.

    Args:
        schedule: a spec string, a ``Schedule``, a callable ``t -> lr``, or ``None`` to keep
            your own scheduler (then the callback only records and diagnoses).
        optimizer: the ``torch.optim.Optimizer`` whose param groups it sets.
        total_steps: optimizer updates in the run (needed by schedules that decay over the run).
        steps_per_epoch: optimizer updates per epoch (for lengths in epochs).
        rules, sinks, stop_on: the diagnostics (see ``lr_callbacks.diagnostics.Monitor``).
        raise_on_stop: raise ``StopTraining`` (with the ``Alert``) instead of only setting ``should_stop``.
        writer: a ``SummaryWriter`` to write the dashboards to (LR per group, loss, smoothed loss,
            alert level, the Custom Scalars layout, alerts as text; see ``lr_callbacks.dashboards``).
        tensorboard_dir: open a ``SummaryWriter`` (torch's) on this directory for them instead.
        wandb_run: a ``wandb`` run to log them to (``run.alert`` for the alerts).
        report_path: write ``lr-callbacks report``'s picture (``.png``) or page (``.html``) at ``close()``.
        stop_check_every: under ``torch.distributed``, reduce the stop decision across ranks every
            this many updates (each check is one tiny all-reduce and one host read).
        scenario: what you train (``"llm_finetuning"``, ``"cnn_scratch"``, ... see
            ``lr_callbacks.starting_lr``): at the first update, warn once (rank 0, on the
            ``lr_callbacks`` logger) when the peak LR is more than 10x outside the guide's range for
            it and the optimizer's family (Adam-like or SGD, from its class).

    Run the range test before training with ``cb.find_lr(model, batches, loss_fn)``: it replaces
    the schedule's ``peak_lr`` with the suggestion.

    Raises:
        TypeError: ``optimizer`` is not a torch optimizer.
        ValueError: the schedule needs ``total_steps`` and it was not given.
    """

    def __init__(
        self,
        schedule: ScheduleLike,
        optimizer: torch.optim.Optimizer,
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
        stop_check_every: int = 1,
        scenario: str | None = None,
    ):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"LRCallback: optimizer must be a torch.optim.Optimizer; got optimizer={optimizer!r}. "
                f"Pass the optimizer whose LR should follow the schedule."
            )
        self.optimizer = optimizer
        self.raise_on_stop = raise_on_stop
        self.stop_check_every = check_int("LRCallback", "stop_check_every", stop_check_every, 1)
        self.controller = Controller(
            schedule,
            rules=rules,
            sinks=sinks,
            stop_on=stop_on,
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )
        if distributed_rank()[0] == 0:  # only rank 0 writes (other ranks would open empty event files)
            for sink in dashboard_sinks(writer=writer, tensorboard_dir=tensorboard_dir, open_writer=open_writer,
                                        wandb_run=wandb_run, report_path=report_path):  # fmt: skip
                self.controller.add_metric_sink(sink)
        self.losses = DeferredScalars(width=2)
        self.step_count = 0
        self._stop = False
        self._set: list[float] | None = None
        # Like torch's schedulers, remember each group's starting LR in the group itself, so that a
        # resumed optimizer (its state dict carries it) keeps the exact proportions between groups.
        base = [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.controller.start(total_steps, steps_per_epoch, base, *distributed_rank())
        self._apply(0)
        self.scenario = check_scenario("LRCallback", scenario)

    def find_lr(
        self,
        model: torch.nn.Module,
        batches: Iterable[tuple[Any, Any]],
        loss_fn: Callable[[Any, Any], torch.Tensor],
        **options: Any,
    ) -> RangeTestResult:
        """Run the range test before update 0 and train with its suggestion as the schedule's ``peak_lr``.

        The sweep is this module's ``find_lr(model, optimizer, batches, loss_fn, **options)`` on
        the callback's optimizer (everything it touches is restored). The suggestion replaces the
        schedule's ``peak_lr`` unless a blocking flag is set; then the schedule stays as written,
        with a warning (``lr_callbacks.range_test.schedule_after_range_test``). The line is logged
        on the ``lr_callbacks`` logger (rank 0) and the LR of update 0 is set again.

        Args:
            model, batches, loss_fn: as for ``find_lr``.
            options: ``start_lr``, ``end_lr``, ``num_steps``, ``mode``, ``plot``,
                ``accumulation_steps``, ``scaler``.

        Raises:
            RuntimeError: an update was already recorded.
            ValueError: the schedule has no ``peak_lr``, or an option is unknown.
        """
        if self.step_count:
            raise RuntimeError(
                f"LRCallback.find_lr: the range test runs before training; got step_count={self.step_count}. "
                f"Call cb.find_lr(...) before the first cb.step(loss)."
            )
        schedule = self.controller.schedule
        sweep = sweep_options("LRCallback.find_lr", options, schedule, extra=("accumulation_steps", "scaler"))
        result = find_lr(model, self.optimizer, batches, loss_fn, **(sweep or {}))
        new, line, applied = schedule_after_range_test(schedule, result)  # type: ignore[arg-type]
        if distributed_rank()[0] == 0:
            _log.log(logging.INFO if applied else logging.WARNING, "LRCallback: %s", line)
        self.controller.schedule = new
        self.controller.start(None, None, self.controller.base_lrs, *distributed_rank())
        self._apply(0)
        return result

    def _advise(self) -> None:
        schedule = self.controller.schedule
        peak = peak_lr_of(schedule) if schedule is not None else float(self.optimizer.param_groups[0]["lr"])
        message = starting_lr_warning(self.scenario, peak, type(self.optimizer).__name__)
        if message is not None and distributed_rank()[0] == 0:
            _log.warning("LRCallback: %s", message)

    def _apply(self, t: int) -> None:
        self._set = self.controller.lrs(t)
        if self._set is not None:
            for group, lr in zip(self.optimizer.param_groups, self._set, strict=True):
                group["lr"] = lr

    def _check_not_fought(self) -> list[float]:
        current = [float(group["lr"]) for group in self.optimizer.param_groups]
        if self._set is not None and current != self._set:
            raise RuntimeError(
                f"LRCallback: the LR of the param groups was changed outside the callback (set {self._set}, found "
                f"{current}), e.g. by a torch LR scheduler. Use one of them: drop the other scheduler, or pass "
                f"schedule=None to keep yours and let LRCallback only record and diagnose."
            )
        return current

    def step(self, loss: Any, grad_norm: Any = None) -> None:
        """Record the loss of the update just made and set the LR of the next one (no host sync)."""
        # Lean on purpose: this runs after every update, with the CPU caches cold from the step.
        t, groups, lrs = self.step_count, self.optimizer.param_groups, self._set
        if lrs is None or len(groups) != 1 or groups[0]["lr"] != lrs[0]:
            lrs = self._check_not_fought()  # the full check; one group holding our LR needs none
        if t == 0 and self.scenario is not None:
            self._advise()  # at the first update: after a find_lr() that may have changed the peak
        if not isinstance(loss, torch.Tensor):
            check_loss(loss)  # a clear error for what is neither a tensor nor a number
        self._observe(self.losses.take(t, (loss, grad_norm), lrs))
        self.step_count = t = t + 1
        self._apply(t)
        if t % self.stop_check_every == 0:
            self._update_stop()

    def _observe(self, landed: list[Landed]) -> None:
        for step, (loss, grad_norm), lrs in landed:
            self.controller.observe(step, loss if loss is not None else math.nan, lrs, grad_norm)

    def _update_stop(self) -> None:
        rank, world = self.controller.rank, self.controller.world_size  # fixed at start
        if world == 1:
            self._stop = self.controller.should_stop
        else:
            self._stop = self._reduce_stop(rank, world)
        if self._stop and self.raise_on_stop:
            raise StopTraining(self.controller.stop_alert())

    def _reduce_stop(self, rank: int, world: int) -> bool:
        # One tiny all-reduce and one host read per check: every rank learns who stopped and when.
        device = self.optimizer.param_groups[0]["params"][0].device
        table = torch.zeros(world, 2, dtype=torch.float64, device=device if device.type == "cuda" else None)
        table[rank] = torch.tensor(self.controller.stop_code(), dtype=torch.float64)
        torch.distributed.all_reduce(table)
        return self.controller.decide_stop(table.tolist())

    def eval(self, metrics: Mapping[str, float]) -> None:
        """Record evaluation metrics (e.g. ``{"val_loss": 0.3}``) measured after the last update."""
        self.controller.observe_eval(max(self.step_count - 1, 0), {k: float(v) for k, v in metrics.items()})

    @property
    def should_stop(self) -> bool:
        """True when the monitor's stop policy fired (on any rank, under torch.distributed)."""
        return self._stop

    @property
    def alerts(self) -> list[Any]:
        """Every alert so far."""
        return self.controller.alerts

    def state_dict(self) -> dict[str, Any]:
        """Strict-JSON state to save with your checkpoint (waits for losses still in flight)."""
        self._observe(self.losses.drain())
        return {"version": STATE_VERSION, "step": self.step_count, "controller": self.controller.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume at the saved step: the LR is recomputed from it, the diagnostics continue."""
        expected = {"version", "step", "controller"}
        if set(state) != expected:
            raise ValueError(
                f"LRCallback.load_state_dict: expected keys {sorted(expected)}; got {sorted(state)}. "
                f"Pass the dict returned by state_dict()."
            )
        self.controller.load_state_dict(state["controller"])
        self.step_count = int(state["step"])
        self._apply(self.step_count)

    def close(self) -> None:
        """Read the losses still in flight and close the sinks."""
        self._observe(self.losses.drain())
        self.controller.close()


# --- LR range test ---------------------------------------------------------------------------------


def find_lr(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Any, Any]],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    accumulation_steps: int = 1,
    scaler: Any = None,
    plot: str | Path | None = None,
) -> RangeTestResult:
    """Run an LR range test on a plain PyTorch model and put everything back as it was.

    One optimizer update per ladder step: ``loss_fn(model(inputs), targets)`` over
    ``accumulation_steps`` micro-batches ``(inputs, targets)`` from ``batches`` (cycled when it is
    shorter than the sweep; tensors are moved to the model's device). The LR of param group 0
    follows the sweep, other groups keep their proportion to it. With an AMP ``scaler``, an update
    that the scaler skipped is not a ladder step. The sweep stops early on a non-finite loss or a
    divergence (see ``lr_callbacks.range_test.RangeTest``). It reads each loss on the host: a
    range test is short, so the hot-path rule does not apply.

    Restored in ``finally`` (also after an early stop, an exception or Ctrl-C): every parameter and
    buffer (bit for bit, from a CPU copy), their gradients, train/eval modes, the optimizer state
    and param groups (LRs included), the scaler, and the RNG states (``random``, numpy, torch CPU
    and CUDA).

    Args:
        model, optimizer: what to test; the optimizer's param groups must hold the model's params.
        batches: an iterable of ``(inputs, targets)``, e.g. a ``DataLoader``.
        loss_fn: ``loss_fn(outputs, targets) -> scalar tensor``.
        start_lr, end_lr, num_steps, mode: the sweep (see ``RangeTest``).
        accumulation_steps: micro-batches per optimizer update; their mean loss is recorded.
        scaler: a ``torch.amp.GradScaler`` for mixed precision (you run autocast in ``loss_fn``
            or the model).
        plot: a path to draw the curve to (``lr_callbacks.report.plot_range_test``).

    Returns:
        The ``RangeTestResult``: ``result.suggested_peak_lr``, ``result.apply(schedule)``.

    Raises:
        TypeError: ``model`` or ``optimizer`` is not a torch one.
        ValueError: a sweep argument is out of range, ``accumulation_steps < 1``, or ``batches``
            is empty.
    """
    _check_find_lr(model, optimizer, accumulation_steps)
    test = RangeTest(start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, mode=mode)
    snapshot = TorchSnapshot(model, [optimizer])
    scaler_state = copy.deepcopy(scaler.__dict__) if scaler is not None else None
    try:
        _sweep(test, model, optimizer, batches, loss_fn, accumulation_steps, scaler)
    finally:
        snapshot.restore()
        if scaler is not None:
            scaler.__dict__.update(copy.deepcopy(scaler_state))
    result = test.result()
    if plot is not None:
        from ..report import plot_range_test

        plot_range_test(result, plot)
    return result


def _check_find_lr(model: Any, optimizer: Any, accumulation_steps: Any) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"find_lr: model must be a torch.nn.Module; got model={model!r}. Pass your model.")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"find_lr: optimizer must be a torch.optim.Optimizer; got optimizer={optimizer!r}. "
            f"Pass the optimizer you will train with."
        )
    if (
        isinstance(accumulation_steps, bool)
        or not isinstance(accumulation_steps, int)
        or accumulation_steps < 1
    ):
        raise ValueError(
            f"find_lr: accumulation_steps must be an int >= 1; got accumulation_steps={accumulation_steps!r}. "
            f"Use 1 unless you accumulate gradients."
        )


def _sweep(
    test: RangeTest,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Any, Any]],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    accumulation_steps: int,
    scaler: Any,
) -> None:
    model.train()
    stream = _cycle(batches)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    base = [float(group["lr"]) for group in optimizer.param_groups]
    step, skipped = 0, 0
    while not test.should_stop:
        lr = test.lr(step)
        for group, group_base in zip(optimizer.param_groups, base, strict=True):
            group["lr"] = lr * group_base / base[0] if base[0] > 0 else lr
        try:
            loss = _update(model, optimizer, stream, loss_fn, accumulation_steps, scaler, device)
        except StopIteration:  # a one-shot iterator of batches ran dry: suggest from what we have
            break
        if loss is None:  # AMP skipped this update: the ladder does not move
            skipped += 1
            if skipped > test.num_steps:
                break
            continue
        test.record(step, loss)
        step += 1


def _update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    stream: Iterator[tuple[Any, Any]],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    accumulation_steps: int,
    scaler: Any,
    device: torch.device,
) -> float | None:
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for _ in range(accumulation_steps):
        inputs, targets = next(stream)
        loss = loss_fn(model(_to(inputs, device)), _to(targets, device))
        scaled = loss / accumulation_steps
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        total += float(loss.detach())
    if scaler is None:
        optimizer.step()
        return total / accumulation_steps
    scale = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    if scaler.get_scale() < scale and math.isfinite(total):
        return None
    return total / accumulation_steps


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _cycle(batches: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """``batches`` again and again; a one-shot iterator ends the sweep when it runs dry."""
    passes = 0
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty and passes == 0:
            raise ValueError(
                f"find_lr: batches must yield (inputs, targets) pairs; got batches={batches!r} with none. "
                f"Pass a list or a DataLoader."
            )
        if empty:
            return
        passes += 1

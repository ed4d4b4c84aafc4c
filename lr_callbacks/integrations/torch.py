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

from collections.abc import Mapping, Sequence
from typing import Any

try:
    import torch
except ImportError:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "lr_callbacks.integrations.torch needs PyTorch: pip install 'lr-callbacks[torch]'"
    ) from None

from ..controller import Controller, ScheduleLike, StopTraining
from ..deferred import DeferredScalars, Landed, check_loss

STATE_VERSION = 1


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
        stop_check_every: under ``torch.distributed``, reduce the stop decision across ranks every
            this many updates (each check is one tiny all-reduce and one host read).

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
        stop_check_every: int = 1,
    ):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"LRCallback: optimizer must be a torch.optim.Optimizer; got optimizer={optimizer!r}. "
                f"Pass the optimizer whose LR should follow the schedule."
            )
        if (
            isinstance(stop_check_every, bool)
            or not isinstance(stop_check_every, int)
            or stop_check_every < 1
        ):
            raise ValueError(
                f"LRCallback: stop_check_every must be an int >= 1; got stop_check_every={stop_check_every!r}."
            )
        self.optimizer = optimizer
        self.raise_on_stop = raise_on_stop
        self.stop_check_every = stop_check_every
        self.controller = Controller(
            schedule,
            rules=rules,
            sinks=sinks,
            stop_on=stop_on,
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )
        self.losses = DeferredScalars(width=2)
        self.step_count = 0
        self._stop = False
        self._set: list[float] | None = None
        # Like torch's schedulers, remember each group's starting LR in the group itself, so that a
        # resumed optimizer (its state dict carries it) keeps the exact proportions between groups.
        base = [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.controller.start(total_steps, steps_per_epoch, base, *distributed_rank())
        self._apply(0)

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
        lrs = self._check_not_fought()
        self.losses.push(self.step_count, (check_loss(loss), grad_norm), lrs)
        self._observe(self.losses.ready())
        self.step_count += 1
        self._apply(self.step_count)
        if self.step_count % self.stop_check_every == 0:
            self._update_stop()

    def _observe(self, landed: list[Landed]) -> None:
        for step, (loss, grad_norm), lrs in landed:
            self.controller.observe(
                step, loss if loss is not None else float("nan"), lrs=lrs, grad_norm=grad_norm
            )

    def _update_stop(self) -> None:
        rank, world = distributed_rank()
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
        rows = [(int(code), int(step)) for code, step in table.tolist()]
        stopped = [(r, code, step) for r, (code, step) in enumerate(rows) if code > 0]
        if stopped:
            self.controller.report_remote_stop(*stopped[0])
        return bool(stopped)

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

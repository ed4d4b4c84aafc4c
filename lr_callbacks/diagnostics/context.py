"""The per-run context every rule reads: LR, schedule events, warmup, loss EMA."""

from __future__ import annotations

import bisect
import math
from typing import Any

from lr_callbacks.diagnostics.events import LR_EVENT_KINDS, Event, check_event, make_event
from lr_callbacks.diagnostics.state import check_state_keys

NEVER = -(1 << 62)  # "no such step yet", kept as an int so state stays strict JSON
_FAR = 1 << 62
LR_CHANGE_RATIO = 1.5
EMA_BETA = 0.98  # the smoothed loss's EMA factor (rules that reason about its noise use it)
_BETA = EMA_BETA
_CLIP = math.log(4.0)
_MAX_CLIPPED = 2
_STATE_KEYS = (
    "version", "step", "lr", "peak_lr", "lr_step", "lr_phase", "warmup_end", "num_obs", "num_high",
    "ema_raw", "beta_pow", "ema", "events", "fired", "last_finite_loss", "last_finite_step",
)  # fmt: skip


class Observation:
    """One training step as the rules see it; the Monitor reuses one instance.

    Rules must copy what they keep: the Monitor overwrites the fields every step.
    `log_loss` is ``log(loss)`` (losses at or below 1e-12 are floored there).
    """

    __slots__ = ("batch_index", "grad_norm", "log_loss", "loss", "lr", "step", "val_loss")

    def __init__(self, step: int = 0, loss: float = math.nan, lr: float | None = None) -> None:
        self.step = step
        self.loss = loss
        self.log_loss = math.log(loss) if loss > 1e-12 else math.log(1e-12)
        self.lr = lr
        self.grad_norm: float | None = None
        self.batch_index: int | None = None
        self.val_loss: float | None = None


class RunContext:
    """Facts about the run shared by all rules, advanced once per step by the Monitor.

    Holds the observed LR of group 0 and its peak, the schedule events (named ones
    given by the caller, and ``lr_change``/``warmup_end`` derived from the LR series),
    the warmup end, and a robust bias-corrected EMA of the log-loss (beta 0.98, each
    input clipped to within log(4) of the EMA so one bad batch barely moves it; from the
    third high value in a row the clip is lifted, since that is an explosion).

    Args:
        total_steps: planned number of optimizer updates, or None when unknown.
    """

    def __init__(self, total_steps: int | None = None) -> None:
        self.total_steps = total_steps
        self._reset()

    def _reset(self) -> None:
        self.step = NEVER
        self.lr: float | None = None
        self.peak_lr: float | None = None
        self.lr_step = NEVER
        self.lr_phase = 0  # 0 no LR yet, 1 first LR seen, 2 rising (warmup), 3 warmup over
        self.warmup_end: int | None = None
        self.num_obs = 0
        self.num_high = 0
        self.ema_raw = 0.0
        self.beta_pow = 1.0
        self.ema = 0.0
        self.events: list[Event] = []
        self.last_event_step = NEVER
        self.last_event_index = -1
        self.num_decays = 0
        self.fired: dict[str, int] = {}
        self.last_finite_loss: float | None = None
        self.last_finite_step = NEVER
        self._cursor = 0
        self._next_event_step = _FAR

    @property
    def last_event(self) -> Event | None:
        """The latest LR event (any kind but warmup_end) at or before the current step."""
        return self.events[self.last_event_index] if self.last_event_index >= 0 else None

    def warmed_up(self, step: int) -> bool:
        """True once warmup is over; at once when no LR is observed."""
        if self.warmup_end is None:
            return self.lr_phase == 0
        return step >= self.warmup_end

    def add_events(self, events: list[Event]) -> None:
        """Add named events (validated, deduplicated by step and kind), kept sorted."""
        known = {(e["step"], e["kind"]) for e in self.events}
        for raw in events:
            event = check_event(raw)
            if (event["step"], event["kind"]) not in known:
                known.add((event["step"], event["kind"]))
                bisect.insort(self.events, event, key=_event_step)
        self._rescan()

    def _rescan(self) -> None:
        self.last_event_index, self.last_event_step, self.num_decays = -1, NEVER, 0
        self._cursor, self._next_event_step = 0, _FAR
        self._consume_events(self.step)

    def _consume_events(self, step: int) -> None:
        events, cursor = self.events, self._cursor
        while cursor < len(events) and events[cursor]["step"] <= step:
            self._apply_event(cursor, events[cursor])
            cursor += 1
        self._cursor = cursor
        self._next_event_step = events[cursor]["step"] if cursor < len(events) else _FAR

    def _apply_event(self, index: int, event: Event) -> None:
        kind, factor = event["kind"], event["factor"]
        if kind == "warmup_end":
            self.warmup_end, self.lr_phase = event["step"], 3
            return
        if kind in LR_EVENT_KINDS:
            self.last_event_index, self.last_event_step = index, event["step"]
        if kind in ("decay", "decay_start") or (kind == "lr_change" and (factor or 1.0) < 1.0):
            self.num_decays += 1

    def advance(self, step: int, lr: float | None, log_loss: float | None) -> None:
        """Move to `step`: consume events, track the LR, fold a finite log-loss into the EMA."""
        self.step = step
        if step >= self._next_event_step:
            self._consume_events(step)
        if lr is not None:
            if lr != self.lr or self.lr_phase != 3:
                self._track_lr(step, lr)
            self.lr_step = step
        if log_loss is None:
            return
        if self.num_obs:  # clip relative to the EMA so one outlier barely moves it
            ema = self.ema
            if log_loss > ema + _CLIP:
                self.num_high += 1
                if self.num_high <= _MAX_CLIPPED:  # beyond that it is an explosion, not a batch
                    log_loss = ema + _CLIP
            else:
                if self.num_high:
                    self.num_high = 0
                if log_loss < ema - _CLIP:
                    log_loss = ema - _CLIP
        self.num_obs += 1
        beta_pow = self.beta_pow = self.beta_pow * _BETA
        raw = self.ema_raw = _BETA * self.ema_raw + (1.0 - _BETA) * log_loss
        self.ema = raw / (1.0 - beta_pow)

    def _track_lr(self, step: int, lr: float) -> None:
        prev, phase = self.lr, self.lr_phase
        self.lr = lr
        if prev is None or self.peak_lr is None:
            self.lr_phase, self.peak_lr = max(phase, 1), lr
            return
        if lr > self.peak_lr:
            self.peak_lr = lr
        if phase == 3:
            if lr > prev * LR_CHANGE_RATIO or lr * LR_CHANGE_RATIO < prev:
                self._derive_lr_change(step, prev, lr)
        elif lr > prev:
            self.lr_phase = 2
        else:
            self._end_warmup(step, rose=phase == 2)

    def _end_warmup(self, step: int, rose: bool) -> None:
        self.lr_phase = 3
        if any(e["kind"] == "warmup_end" for e in self.events):
            return  # a named warmup end is authoritative
        if rose:
            text = f"LR stopped rising at {self.peak_lr:.3g}"
            self._insert_derived(make_event(self.lr_step, "warmup_end", text))
        else:
            self.warmup_end = step

    def _derive_lr_change(self, step: int, prev: float, lr: float) -> None:
        last = self.last_event
        if last is not None and last["step"] >= self.lr_step and last["kind"] != "lr_change":
            return  # a named event already explains this change
        factor = lr / prev if prev > 0 else None
        text = f"LR went from {prev:.3g} to {lr:.3g}"
        self._insert_derived(make_event(step, "lr_change", text, factor))

    def _insert_derived(self, event: Event) -> None:
        events = self.events
        last = events[-1]["step"] if events else NEVER
        if self._cursor == len(events) and last <= event["step"]:  # usual: append in O(1)
            events.append(event)
            self._consume_events(self.step)
            return
        bisect.insort(events, event, key=_event_step)
        self._rescan()

    def state_dict(self) -> dict[str, Any]:
        """Strict-JSON statistics and events (None stands for 'not yet')."""
        state = {key: getattr(self, key) for key in _STATE_KEYS[1:]}
        state["events"] = [dict(e) for e in self.events]
        state["fired"] = dict(self.fired)
        return {"version": 1, **state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict` output; rejects missing or unknown keys by name."""
        check_state_keys("RunContext", state, _STATE_KEYS)
        for key in _STATE_KEYS[1:]:
            setattr(self, key, state[key])
        self.events = [check_event(e, "RunContext.load_state_dict") for e in state["events"]]
        self.fired = {str(k): int(v) for k, v in state["fired"].items()}
        self._rescan()


def _event_step(event: Event) -> int:
    return int(event["step"])

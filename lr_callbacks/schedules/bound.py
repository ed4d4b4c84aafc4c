"""A schedule bound to a run: a pure, closed-form function of the step."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .phases import Phase, ScheduleEvent, _vector

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_EVENT_WORDS = {
    "warmup_end": "warmup ends",
    "decay": "LR step decay",
    "decay_start": "decay phase starts",
    "restart": "warm restart",
    "peak": "LR peak",
}


class BoundSchedule:
    """The LR of every optimizer update of one run, in closed form.

    Calling it with ``t`` (the number of updates completed before the current one)
    returns the LR applied to update ``t``; it holds no counter, so a resumed run
    evaluates at the restored ``t`` and gets the uninterrupted curve bit for bit.
    Past the last phase the LR holds its final value.

    Args:
        phases: the phase table (sorted by start; see ``phases.Phase``).
        spec: the schedule this was bound from (for ``repr`` and the spec string).
        total_steps: the run's ``T`` (``None`` when the schedule did not need it).

    Example:
        >>> from lr_callbacks.schedules import parse
        >>> lr = parse("warmup_cosine(peak_lr=1.0, warmup=2)").bind(total_steps=10)
        >>> [round(lr(t), 4) for t in range(4)]
        [0.0, 0.5, 1.0, 0.9619]
    """

    __slots__ = ("_phases", "_starts", "spec", "total_steps")

    def __init__(self, phases: Sequence[Phase], spec: Any = None, total_steps: int | None = None):
        self._phases = tuple(phases)
        self._starts = [p.start for p in self._phases]
        self.spec = spec
        self.total_steps = total_steps

    def __call__(self, t: float) -> float:
        i = bisect_right(self._starts, t) - 1
        return self._phases[i if i > 0 else 0].value(t)

    def __repr__(self) -> str:
        return f"BoundSchedule({self.spec!r}, total_steps={self.total_steps})"

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The phase table, in order."""
        return self._phases

    @property
    def peak_lr(self) -> float:
        """The largest LR of any phase boundary."""
        return max(max(p.lr_start, p.lr_end) for p in self._phases)

    def values(self, steps: Any) -> npt.NDArray[np.float64]:
        """Vectorised evaluation over an array of steps (numpy, float64).

        Equal to calling the schedule at each step, bit for bit for every shape but the
        ``pow``-based ones (exponential, polynomial, the exponential sweep), where numpy's
        ``power`` may differ from the C library's in the last bit.
        """
        import numpy as np

        ts = np.asarray(steps, dtype=np.float64)
        flat = ts.ravel()
        if flat.size > 1 and not bool(np.all(flat[1:] >= flat[:-1])):
            return self._values_unsorted(flat).reshape(ts.shape)
        out = np.empty_like(flat)
        # Sorted steps: each phase covers one contiguous slice.
        edges = np.searchsorted(flat, np.asarray(self._starts[1:]), side="left")
        bounds = [0, *edges.tolist(), flat.size]
        for phase, lo, hi in zip(self._phases, bounds[:-1], bounds[1:], strict=True):
            if hi > lo:
                out[lo:hi] = _vector(phase, flat[lo:hi])
        return out.reshape(ts.shape)

    def _values_unsorted(self, flat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import numpy as np

        index = np.searchsorted(np.asarray(self._starts), flat, side="right") - 1
        np.maximum(index, 0, out=index)
        out = np.empty_like(flat)
        for i in np.unique(index):
            mask = index == i
            out[mask] = _vector(self._phases[int(i)], flat[mask])
        return out

    def group_lrs(self, t: float, base_lrs: Sequence[float]) -> list[float]:
        """LR per param group at ``t``: group 0 follows the schedule, others keep their ratio to it."""
        lr = self(t)
        reference = base_lrs[0]
        return [lr * (base / reference) for base in base_lrs]

    def events(self, start: int = 0, stop: int | None = None) -> list[ScheduleEvent]:
        """Schedule events (warmup end, decays, restarts, ...) at steps in ``[start, stop)``.

        An event at a fractional boundary (one-cycle's peak at ``pT - 1``) belongs to the
        first whole step at or after it. ``stop`` defaults to ``total_steps``.

        Raises:
            ValueError: neither ``stop`` nor ``total_steps`` is known (an open-ended step
                decay has no last event).
        """
        stop = self.total_steps if stop is None else stop
        if stop is None:
            raise ValueError(
                "BoundSchedule.events: needs the end of the range; got stop=None and total_steps=None. "
                "Pass stop=, or bind the schedule with total_steps=."
            )
        found: list[ScheduleEvent] = []
        for index, phase in enumerate(self._phases):
            if phase.shape == "staircase":
                found.extend(self._staircase_events(phase, start, stop))
            step = math.ceil(phase.start)
            if phase.event is None or not start <= step < stop:
                continue
            before = self(step - 1) if step > 0 else phase.lr_start
            after = self(step)
            factor = after / before if before > 0 and index > 0 else None
            found.append(ScheduleEvent(step, phase.event, self._describe_event(phase.event, factor), factor))
        return sorted(found, key=lambda e: e.step)

    def _staircase_events(self, phase: Phase, start: float, limit: float) -> list[ScheduleEvent]:
        first = max(1, math.ceil((start - phase.start) / phase.step))  # an event at ceil(boundary) >= start
        found = []
        k = first
        while phase.start + k * phase.step < min(limit, phase.end):
            step = math.ceil(phase.start + k * phase.step)
            found.append(
                ScheduleEvent(step, "decay", self._describe_event("decay", phase.param), phase.param)
            )
            k += 1
        return found

    @staticmethod
    def _describe_event(kind: str, factor: float | None) -> str:
        words = _EVENT_WORDS.get(kind, kind)
        return f"{words} (x{factor:.3g})" if factor is not None and kind != "warmup_end" else words

    def describe(self) -> str:
        """The phases and their boundaries, one line each."""
        name = self.spec.to_spec() if hasattr(self.spec, "to_spec") else repr(self.spec)
        lines = [name + (f" over {self.total_steps} steps" if self.total_steps else "")]
        for i, p in enumerate(self._phases):
            cut = min(p.end, self._phases[i + 1].start) if i + 1 < len(self._phases) else p.end
            end = "end" if math.isinf(cut) else f"{cut:g}"
            lr_end = (
                p.value(cut)
                if math.isfinite(cut) and cut < p.end
                else (p.lr_start if math.isinf(p.end) else p.lr_end)
            )
            lines.append(
                f"  {p.name:<16} steps [{p.start:g}, {end}): {p.shape:<12} {p.lr_start:.6g} -> {lr_end:.6g}"
            )
        return "\n".join(lines)

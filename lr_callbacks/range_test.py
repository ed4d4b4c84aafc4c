"""LR range test: the sweep driver every adapter calls per update, and the robust suggestion.

An adapter runs the sweep (``lr(i)`` for update ``i``, then ``record(i, loss)`` with the raw loss
of that update, until ``should_stop``) and calls ``result()``. ``suggest(lrs, losses)`` is the
framework-free rule, usable on any recorded curve:

1. keep the points before the first non-finite loss (at least 20, else ``too_few_points``);
2. ``x = log10(lr)``; ``y = ln(loss)`` when every loss is positive, else the loss itself;
3. smooth with zero phase: LOWESS (local-linear, tricube weights over the
   ``k = max(7, ceil(0.1 n))`` nearest points, 2 bisquare robustness passes with scale
   ``6 * MAD``), and a centred running median of 5;
4. valley minimum ``i* = argmin f`` over ``i >= ceil(0.05 n)``; plateau ``P`` = median of the
   running median over the first ``w + 1`` points, ``w = max(5, ceil(0.1 n))``;
5. divergence onset: the first ``i > i*`` whose running median is back above ``P``;
6. suggested peak LR (one-cycle, warmup + cosine, cyclical) = onset / 10; constant LR = onset / 30.

The onset is the curve's strongest event (the loss grows by factors), so it moves little with
the seed or with loss spikes, unlike the steepest slope or the minimum of an EMA-smoothed curve.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .schedules import Schedule, Sweep, parse
from .schedules.lengths import check_int, check_number
from .smoothing import lowess, running_median

__all__ = [
    "BLOCKING_FLAGS",
    "FLAGS",
    "SWEEP_OPTIONS",
    "RangeTest",
    "RangeTestResult",
    "peak_lr_of",
    "schedule_after_range_test",
    "suggest",
    "sweep_options",
]

FloatArray = npt.NDArray[np.float64]

STATE_VERSION = 1
MIN_POINTS = 20
PEAK_DIVISOR = 10.0
CONSTANT_DIVISOR = 30.0
FLAGS = ("too_few_points", "diverged_immediately", "no_divergence_in_range", "no_clear_valley")
#: flags that make ``apply`` refuse (``no_divergence_in_range`` only makes the suggestion a lower bound)
BLOCKING_FLAGS = ("too_few_points", "diverged_immediately", "no_clear_valley")

_STOP_WARMUP = 10
_STOP_WINDOW = 5
_STOP_PATIENCE = 3
_STOP_FACTOR = 3.0


class RangeTest:
    """The sweep an adapter drives: the LR of each update, the raw losses, the live stop.

    Advance ``i`` only after a successful optimizer update (not per micro-batch, not on an
    update that AMP skipped), and record the raw loss of that update (the mean over its
    micro-batches), never a framework's running or windowed mean.

    Stop rule: at once on a non-finite loss; otherwise, from update 10 on, when the median
    ``l`` of the last 5 losses exceeds its running minimum ``b`` by more than ``3 * |b|``
    (4x for positive losses, sign-safe) and exceeds the starting plateau (median of the first
    ``max(5, ceil(0.1 N))`` losses), for 3 updates in a row.

    Args:
        start_lr: the LR of update 0.
        end_lr: the LR of update ``num_steps - 1``.
        num_steps: updates in the full sweep (100 is typical; at least 20 for a suggestion).
        mode: ``"exp"`` (geometric ladder, default) or ``"linear"``.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range.

    Example:
        >>> test = RangeTest(start_lr=1e-4, end_lr=1.0, num_steps=5)
        >>> [float(f"{test.lr(i):.3g}") for i in range(5)]
        [0.0001, 0.001, 0.01, 0.1, 1.0]
        >>> test.record(0, 2.3); test.record(1, float("nan"))
        >>> test.should_stop, test.stop_reason
        (True, 'nonfinite')
    """

    def __init__(
        self, start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 100, mode: str = "exp"
    ) -> None:
        owner = "RangeTest"
        check_number(owner, "start_lr", start_lr, fix="It is the first LR of the sweep, e.g. 1e-7.")
        check_number(
            owner, "end_lr", end_lr, low=float(start_lr), fix="The sweep rises: pass end_lr > start_lr."
        )
        check_int(owner, "num_steps", num_steps, 2, "A range test needs about 100 updates.")
        if mode not in ("exp", "linear"):
            raise ValueError(f"{owner}: mode must be 'exp' or 'linear'; got mode={mode!r}. Pick one of them.")
        self.sweep = Sweep(start_lr=float(start_lr), end_lr=float(end_lr), num_steps=num_steps, mode=mode)
        self._lr = self.sweep.bind()
        self.num_steps = num_steps
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.stop_reason: str | None = None
        self._medians: list[float] = []
        self._best = math.inf
        self._run = 0

    def lr(self, i: int) -> float:
        """The LR of update ``i`` (``0 <= i < num_steps``).

        Raises:
            ValueError: ``i`` is outside the sweep.
        """
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.num_steps:
            raise ValueError(
                f"RangeTest.lr: i must be an update index in [0, {self.num_steps - 1}]; got i={i!r}. "
                f"Stop the sweep when should_stop is True."
            )
        return float(self._lr(i))

    def record(self, i: int, loss: float) -> None:
        """Record the raw loss of update ``i`` (updates come in order: 0, 1, 2, ...).

        Raises:
            ValueError: ``i`` is not the next update, or the sweep has already stopped.
        """
        if self.should_stop:
            raise ValueError(
                f"RangeTest.record: the sweep has stopped ({self.stop_reason}); got i={i!r}. "
                f"Call result() instead of recording more."
            )
        if i != len(self.losses):
            raise ValueError(
                f"RangeTest.record: updates must be recorded in order; expected i={len(self.losses)}, "
                f"got i={i!r}. Record once per successful optimizer update."
            )
        value = float(loss)
        self.lrs.append(self.lr(i))
        self.losses.append(value)
        self._update_stop(value)

    def _update_stop(self, value: float) -> None:
        count = len(self.losses)
        if not math.isfinite(value):
            self.stop_reason = "nonfinite"
            return
        if count >= _STOP_WINDOW:
            self._medians.append(statistics.median(self.losses[-_STOP_WINDOW:]))
            self._best = min(self._best, self._medians[-1])
        if self._diverging(count):
            self._run += 1
        else:
            self._run = 0
        if self._run >= _STOP_PATIENCE:
            self.stop_reason = "diverged"
        elif count >= self.num_steps:
            self.stop_reason = "end_of_sweep"

    def _diverging(self, count: int) -> bool:
        plateau_size = max(5, math.ceil(0.1 * self.num_steps))
        if count - 1 < _STOP_WARMUP or count < plateau_size or not self._medians:
            return False
        level, best = self._medians[-1], self._best
        plateau = statistics.median(self.losses[:plateau_size])
        return level - best > _STOP_FACTOR * abs(best) and level > plateau

    @property
    def should_stop(self) -> bool:
        """True once the sweep is over: non-finite loss, divergence, or its last update recorded."""
        return self.stop_reason is not None

    def result(self) -> RangeTestResult:
        """The suggestion from the losses recorded so far (see ``suggest``)."""
        return suggest(self.lrs, self.losses, stop_reason=self.stop_reason)


@dataclass(frozen=True)
class RangeTestResult:
    """The outcome of a range test: the curve, its landmarks, the suggestions and the flags.

    ``lrs``/``losses`` are every recorded update; ``smoothed`` is the robust fit (in loss units)
    of the first ``len(smoothed)`` of them (the points before any non-finite loss). LRs are
    ``None`` where the rule found nothing (too few points). Apply the suggestion with
    ``apply(schedule)``; it refuses while a flag in ``BLOCKING_FLAGS`` is set unless ``force=True``.
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    steepest_lr: float | None
    minimum_lr: float | None
    divergence_lr: float | None
    suggested_peak_lr: float | None
    suggested_constant_lr: float | None
    flags: tuple[str, ...]
    depth: float | None = None
    noise: float | None = None
    stop_reason: str | None = None

    @property
    def blocking_flags(self) -> tuple[str, ...]:
        """The flags that make ``apply`` refuse."""
        return tuple(flag for flag in self.flags if flag in BLOCKING_FLAGS)

    def message(self) -> str:
        """One line for a log: the suggestions, the onset and any flags."""
        if self.suggested_peak_lr is None:
            return f"LR range test: no suggestion ({', '.join(self.flags)}); keep your LR."
        text = (
            f"LR range test: suggested peak LR {self.suggested_peak_lr:.3g} (constant LR "
            f"{self.suggested_constant_lr:.3g}); the loss rises again at LR {self.divergence_lr:.3g}"
        )
        if "no_divergence_in_range" in self.flags:
            text += " (no divergence before end_lr: a lower bound, raise end_lr)"
        if self.blocking_flags:
            text += f"; flags {', '.join(self.blocking_flags)}: check the plot before using it"
        return text + "."

    def apply(self, schedule: Schedule | str, *, force: bool = False) -> Schedule:
        """``schedule`` with its ``peak_lr`` set to the suggestion (a ``constant`` gets the constant LR).

        Wrappers (``with_warmup``, ``hold_after``) pass it to the schedule they wrap. A spec
        string is parsed first.

        Raises:
            ValueError: there is no suggestion, a blocking flag is set (pass ``force=True`` to
                apply it anyway), or the schedule has no ``peak_lr``.
            TypeError: ``schedule`` is neither a ``Schedule`` nor a spec string.

        Example:
            >>> from lr_callbacks.schedules import OneCycle
            >>> result = RangeTestResult((), (), (), None, None, 0.3, 0.03, 0.01, ())
            >>> result.apply(OneCycle(peak_lr=1.0)).peak_lr
            0.03
        """
        if self.suggested_peak_lr is None or self.suggested_constant_lr is None:
            raise ValueError(
                f"RangeTestResult.apply: needs a suggestion; got flags={self.flags!r}. "
                f"Rerun the range test with more steps, or set peak_lr yourself."
            )
        if self.blocking_flags and not force:
            raise ValueError(
                f"RangeTestResult.apply: the curve is not trustworthy; got flags={self.blocking_flags!r}. "
                f"Look at the plot, then pass force=True to apply {self.suggested_peak_lr:.3g} anyway."
            )
        if isinstance(schedule, str):
            schedule = parse(schedule)
        return _with_peak(schedule, self.suggested_peak_lr, self.suggested_constant_lr)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON data (``None`` for non-finite numbers) with a ``"version"``."""
        out: dict[str, Any] = {"version": STATE_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = [_json_float(v) for v in value] if field.name in _SERIES else value
        out["flags"] = list(self.flags)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeTestResult:
        """Rebuild a result from ``to_dict()``'s output.

        Raises:
            ValueError: keys are missing or unknown, or the version is not supported.
        """
        expected = {"version"} | {field.name for field in dataclasses.fields(cls)}
        if set(data) != expected:
            raise ValueError(
                f"RangeTestResult.from_dict: expected keys {sorted(expected)}; got keys={sorted(data)}. "
                f"Pass the dict returned by to_dict()."
            )
        if data["version"] != STATE_VERSION:
            raise ValueError(
                f"RangeTestResult.from_dict: expected version {STATE_VERSION}; got version={data['version']!r}. "
                f"Rerun the range test with this release."
            )
        values = {key: value for key, value in data.items() if key != "version"}
        for name in _SERIES:
            values[name] = tuple(math.nan if v is None else float(v) for v in values[name])
        values["flags"] = tuple(values["flags"])
        return cls(**values)


_SERIES = ("lrs", "losses", "smoothed")


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _with_peak(schedule: Schedule, peak: float, constant: float) -> Schedule:
    names = {field.name for field in dataclasses.fields(schedule)}  # type: ignore[arg-type]
    if "peak_lr" in names:
        return dataclasses.replace(schedule, peak_lr=constant if schedule.name == "constant" else peak)  # type: ignore[type-var]
    inner = getattr(schedule, "schedule", None)
    if "schedule" in names and isinstance(inner, Schedule):
        return dataclasses.replace(schedule, schedule=_with_peak(inner, peak, constant))  # type: ignore[type-var]
    raise ValueError(
        f"RangeTestResult.apply: the schedule needs a peak_lr field; got schedule={schedule.to_spec()!r}. "
        f"Use a built-in such as one_cycle, cosine, warmup_cosine or wsd."
    )


def suggest(
    lrs: Sequence[float], losses: Sequence[float], *, stop_reason: str | None = None
) -> RangeTestResult:
    """The robust divergence-onset suggestion for a recorded sweep (``lrs[i]`` used for ``losses[i]``).

    Raises:
        ValueError: ``lrs`` and ``losses`` differ in length, or an LR is not finite and positive.

    Example:
        >>> import math
        >>> lrs = [10 ** (-6 + 6 * i / 99) for i in range(100)]
        >>> losses = [2.0 - 1.5 / (1 + math.exp(-3 * (math.log10(lr) + 3))) for lr in lrs]
        >>> losses = [loss * (1 + math.exp(8 * (math.log10(lr) + 1))) for loss, lr in zip(losses, lrs)]
        >>> result = suggest(lrs, losses)
        >>> f"{result.divergence_lr:.2g}", f"{result.suggested_peak_lr:.2g}", result.flags
        ('0.14', '0.014', ())
    """
    x_lr, y_loss = _check_curve(lrs, losses)
    kept = _kept(y_loss)
    if kept < MIN_POINTS:
        return RangeTestResult(
            tuple(x_lr), tuple(y_loss), (), None, None, None, None, None, ("too_few_points",),
            stop_reason=stop_reason,
        )  # fmt: skip
    x = np.log10(np.asarray(x_lr[:kept]))
    raw = np.asarray(y_loss[:kept])
    logged = bool(np.all(raw > 0))
    y = np.log(raw) if logged else raw
    k = max(7, math.ceil(0.1 * kept))
    fit, slope = lowess(x, y, k)
    median = running_median(y, 2)
    return _landmarks(x_lr, y_loss, kept, y, fit, slope, median, k, logged, stop_reason)


def _check_curve(lrs: Sequence[float], losses: Sequence[float]) -> tuple[list[float], list[float]]:
    x_lr, y_loss = [float(v) for v in lrs], [float(v) for v in losses]
    if len(x_lr) != len(y_loss):
        raise ValueError(
            f"suggest: lrs and losses must have one value per update; got len(lrs)={len(x_lr)}, "
            f"len(losses)={len(y_loss)}. Pass the LR used for each recorded loss."
        )
    bad = [v for v in x_lr if not (math.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(
            f"suggest: every LR must be finite and > 0; got lr={bad[0]!r}. Sweep from a positive start_lr."
        )
    return x_lr, y_loss


def _kept(losses: list[float]) -> int:
    return next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses))


def _landmarks(
    lrs: list[float],
    losses: list[float],
    kept: int,
    y: FloatArray,
    fit: FloatArray,
    slope: FloatArray,
    median: FloatArray,
    k: int,
    logged: bool,
    stop_reason: str | None,
) -> RangeTestResult:
    warmup = max(5, math.ceil(0.1 * kept))
    start = math.ceil(0.05 * kept)
    minimum = start + int(np.argmin(fit[start:]))
    plateau = float(np.median(median[: warmup + 1]))
    flags = ["diverged_immediately"] if minimum < warmup else []
    above = np.nonzero(median[minimum + 1 :] > plateau)[0]
    if above.size:
        divergence = lrs[minimum + 1 + int(above[0])]
    elif kept < len(losses):
        divergence = lrs[kept]  # the loss went non-finite before the running median rose: that is the onset
    else:
        divergence = lrs[kept - 1]
        flags.append("no_divergence_in_range")
    low = min(warmup, minimum)
    steepest = low + int(np.argmin(slope[low : minimum + 1]))
    residual = y - fit
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    depth = plateau - float(fit[minimum])
    if depth < 3 * noise / math.sqrt(k):
        flags.append("no_clear_valley")
    smoothed = np.exp(fit) if logged else fit
    return RangeTestResult(
        lrs=tuple(lrs),
        losses=tuple(losses),
        smoothed=tuple(float(v) for v in smoothed),
        steepest_lr=lrs[steepest],
        minimum_lr=lrs[minimum],
        divergence_lr=divergence,
        suggested_peak_lr=divergence / PEAK_DIVISOR,
        suggested_constant_lr=divergence / CONSTANT_DIVISOR,
        flags=tuple(flag for flag in FLAGS if flag in flags),
        depth=depth,
        noise=noise,
        stop_reason=stop_reason,
    )


#: the sweep's keyword arguments an ``LRCallback(find_lr={...})`` may set in every framework
SWEEP_OPTIONS = ("start_lr", "end_lr", "num_steps", "mode", "plot")


def peak_lr_of(schedule: object) -> float | None:
    """The ``peak_lr`` a schedule was written with (through wrappers), or ``None`` if it has none.

    Example:
        >>> from lr_callbacks.schedules import parse
        >>> peak_lr_of(parse("warmup_cosine(peak_lr=3e-4, warmup=0.05)")), peak_lr_of(len)
        (0.0003, None)
    """
    if not isinstance(schedule, Schedule):
        return None
    names = {field.name for field in dataclasses.fields(schedule)}  # type: ignore[arg-type]
    if "peak_lr" in names:
        return float(schedule.peak_lr)
    return peak_lr_of(getattr(schedule, "schedule", None)) if "schedule" in names else None


def sweep_options(
    owner: str, find_lr: object, schedule: object, extra: Sequence[str] = ()
) -> dict[str, Any] | None:
    """Check an ``LRCallback(find_lr=...)`` argument: ``None`` when off, else the sweep's keyword arguments.

    ``find_lr=True`` runs the default sweep; a dict sets some of ``SWEEP_OPTIONS`` (and the
    adapter's ``extra`` ones). The schedule must have a ``peak_lr`` for the suggestion to replace.

    Raises:
        TypeError: ``find_lr`` is neither a bool nor a dict.
        ValueError: unknown keys, or a schedule without a ``peak_lr``.

    Example:
        >>> sweep_options("LRCallback", dict(num_steps=50), "one_cycle(peak_lr=1.0)")
        {'num_steps': 50}
    """
    if find_lr is False or find_lr is None:
        return None
    if not (find_lr is True or isinstance(find_lr, Mapping)):
        raise TypeError(
            f"{owner}: find_lr must be True, False or a dict of sweep options; got find_lr={find_lr!r}. "
            f"E.g. find_lr=True or find_lr=dict(num_steps=100)."
        )
    options = {} if find_lr is True else dict(find_lr)
    allowed = (*SWEEP_OPTIONS, *extra)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"{owner}: find_lr options must be among {list(allowed)}; got unknown {unknown}. Remove them."
        )
    resolved = parse(schedule) if isinstance(schedule, str) else schedule
    if peak_lr_of(resolved) is None:
        raise ValueError(
            f"{owner}: find_lr replaces the schedule's peak_lr, so it needs a built-in schedule with one; got "
            f"schedule={schedule!r}. Write e.g. 'warmup_cosine(peak_lr=3e-4, warmup=0.05)' (the peak you would "
            f"use without the range test: it stays when the test is not conclusive)."
        )
    return options


def schedule_after_range_test(schedule: Schedule, result: RangeTestResult) -> tuple[Schedule, str, bool]:
    """The schedule to train with after a range test, the line to log, and whether it changed.

    Policy: the suggested peak LR replaces the schedule's ``peak_lr`` (``result.apply``) unless a
    blocking flag is set or there is no suggestion; then the schedule stays as written (your
    ``peak_lr``) and the line says why, to be logged as a warning. Training goes on either way:
    a range test that cannot tell is no reason to stop a run whose LR you already chose.

    Example:
        >>> from lr_callbacks.schedules import parse
        >>> flat = RangeTestResult((), (), (), None, None, None, None, None, ("too_few_points",))
        >>> schedule, line, applied = schedule_after_range_test(parse("cosine(peak_lr=0.1)"), flat)
        >>> applied, schedule.peak_lr
        (False, 0.1)
    """
    if result.suggested_peak_lr is None or result.blocking_flags:
        kept = peak_lr_of(schedule)
        return schedule, f"{result.message()} Keeping the schedule's peak_lr={kept:g}.", False
    applied = result.apply(schedule)
    return applied, f"{result.message()} Training with {applied.to_spec()}.", True

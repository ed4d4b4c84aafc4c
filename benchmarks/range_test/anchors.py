"""The anchors' suggestion rules, replayed on a recorded sweep (for the benchmark only).

Each function takes the raw per-update ``(lrs, losses)`` of one sweep run without early stop
and returns the LR the library would suggest: its own smoothing, its own early stop, its own
trimming and its own rule, as described in ``shared/reference/lr_range_test.md`` (§1-§3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from lr_callbacks.range_test import RangeTest, RangeTestResult, suggest


def torch_lr_finder_steepest(
    lrs: Sequence[float], losses: Sequence[float], smooth_f: float = 0.05, diverge_th: float = 5.0
) -> float | None:
    """torch-lr-finder 0.2.2: EMA without bias correction, 5x stop, ``plot(skip_start=10, skip_end=5)``."""
    history: list[float] = []
    best = math.inf
    for i, loss in enumerate(losses):
        if i == 0:
            best = loss
        else:
            loss = smooth_f * loss + (1 - smooth_f) * history[-1]
            best = min(best, loss)
        history.append(loss)
        if loss > diverge_th * best:  # the triggering point is kept; NaN never triggers
            break
    kept_lrs, kept = list(lrs[: len(history)])[10:-5], history[10:-5]
    if len(kept) < 2:
        return None  # plot() raises here
    return float(kept_lrs[int(np.argmin(np.gradient(np.array(kept))))])


def _fastai_record(losses: Sequence[float], beta: float = 0.98) -> list[float]:
    """fastai ``AvgSmoothLoss`` (bias-corrected EMA) with ``LRFinder``'s 4x stop."""
    value, best, out = 0.0, math.inf, []
    for count, loss in enumerate(losses, start=1):
        value = loss + beta * (value - loss)  # torch.lerp(loss, value, beta)
        smooth = value / (1 - beta**count)
        out.append(smooth)
        if smooth < best:
            best = smooth
        if smooth > 4 * best:
            break
    return out


def _fastai_trim(lrs: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    smooth = _fastai_record(losses)
    num_it = len(losses)
    x = np.array(lrs[: len(smooth)])[num_it // 10 : -5]
    y = np.array(smooth)[num_it // 10 : -5]
    bad = np.nonzero(~np.isfinite(y))[0]
    if bad.size:
        x, y = x[: bad[0]], y[: bad[0]]
    return x, y


def fastai_valley(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """fastai >= 2.4 default: about half-way down the longest decreasing run."""
    x, y = _fastai_trim(lrs, losses)
    n = len(y)
    if n < 2:
        return None
    lds, max_start, max_end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if y[i] < y[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(x[max_start + int(sections) + int(sections / 2)])


def fastai_minimum(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """fastai ``minimum``: the LR of the smoothed minimum, divided by 10."""
    x, y = _fastai_trim(lrs, losses)
    return float(x[int(np.argmin(y))] / 10) if len(y) else None


def fastai_steep(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """fastai ``steep``: most negative forward difference w.r.t. ln(lr)."""
    x, y = _fastai_trim(lrs, losses)
    if len(y) < 2:
        return None
    grads = (y[1:] - y[:-1]) / (np.log(x[1:]) - np.log(x[:-1]))
    return float(x[int(np.argmin(grads))])


def _lightning_record(losses: Sequence[float], beta: float = 0.98, threshold: float = 4.0) -> list[float]:
    """Lightning 2.6.6 ``_LRCallback``: EMA from 0 with the off-by-one bias correction, 4x stop."""
    avg, best, out = 0.0, math.inf, []
    for index, loss in enumerate(losses):
        step = index + 1  # global_step has already been incremented at on_train_batch_end
        avg = beta * avg + (1 - beta) * loss
        smoothed = avg / (1 - beta ** (step + 1))
        stop = step > 1 and smoothed > threshold * best
        if smoothed < best or step == 1:
            best = smoothed
        out.append(smoothed)
        if stop:
            break
    return out


def _lightning_trim(lrs: Sequence[float], losses: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    smooth = _lightning_record(losses)
    y = torch.tensor(smooth[10:-1], dtype=torch.float64)
    x = torch.tensor(list(lrs[: len(smooth)])[10:-1], dtype=torch.float64)
    finite = torch.isfinite(y)
    return x[finite], y[finite]


def lightning_266(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """Lightning 2.6.6 ``suggestion(skip_begin=10, skip_end=1)``: gradient w.r.t. the *linear* LR."""
    x, y = _lightning_trim(lrs, losses)
    if len(y) < 2:
        return None
    gradients = torch.gradient(y, spacing=[x])[0]
    return float(x[int(torch.argmin(gradients))])


def lightning_pre_253(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """Lightning < 2.5.3: the same with the gradient w.r.t. the index."""
    x, y = _lightning_trim(lrs, losses)
    if len(y) < 2:
        return None
    return float(x[int(np.argmin(np.gradient(y.numpy())))])


def _ours(lrs: Sequence[float], losses: Sequence[float]) -> RangeTestResult:
    """lr_callbacks: the live stop (S4) replayed, then ``suggest``."""
    test = RangeTest(start_lr=lrs[0], end_lr=lrs[-1], num_steps=len(lrs))
    for i, loss in enumerate(losses):
        test.record(i, loss)
        if test.should_stop:
            break
    return suggest(test.lrs, test.losses)


def ours(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """lr_callbacks peak suggestion (onset / 10), for one-cycle and other peaked schedules."""
    return _ours(lrs, losses).suggested_peak_lr


def ours_constant(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """lr_callbacks constant-LR suggestion (onset / 30)."""
    return _ours(lrs, losses).suggested_constant_lr


ANCHORS = {
    "torch-lr-finder steepest": torch_lr_finder_steepest,
    "fastai valley": fastai_valley,
    "fastai minimum/10": fastai_minimum,
    "fastai steep": fastai_steep,
    "Lightning 2.6.6": lightning_266,
    "Lightning < 2.5.3": lightning_pre_253,
}
# The anchors suggest one LR, used as-is whatever the schedule; ours depends on the schedule.
RULES = {"lr_callbacks (onset/10)": ours, **ANCHORS}
CONSTANT_RULES = {
    "lr_callbacks (onset/30)": ours_constant,
    "lr_callbacks onset/10 used as constant": ours,
    **ANCHORS,
}
DEFAULTS = ("torch-lr-finder steepest", "fastai valley", "Lightning 2.6.6")

"""Scripted float streams and a feeder that drives rules exactly as the Monitor does."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from lr_callbacks.diagnostics import Alert, Observation, RunContext


def healthy(n: int, sigma: float = 0.1, seed: int = 0, start: float = 2.3) -> list[float]:
    """A power-law learning curve with log-normal minibatch noise."""
    rng = random.Random(seed)
    return [start * (1 + t / 10) ** -0.15 * math.exp(rng.gauss(0, sigma)) for t in range(n)]


def restarts_lr(n: int, period: int = 500, peak: float = 1e-3) -> list[float]:
    return [peak * 0.5 * (1 + math.cos(math.pi * (t % period) / period)) + 1e-5 for t in range(n)]


def restarts_loss(n: int, period: int = 500, seed: int = 0) -> list[float]:
    """Healthy loss that rises ~7% after each restart and settles again."""
    base = healthy(n, seed=seed)
    return [x * (1 + 0.07 * math.exp(-(t % period) / 30)) for t, x in enumerate(base)]


def feed(
    rule: Any,
    losses: Sequence[float],
    lrs: Sequence[float | None] | None = None,
    events: Sequence[dict[str, Any]] = (),
    evals: dict[int, float] | None = None,
    grad_norms: Sequence[float | None] | None = None,
    total_steps: int | None = None,
) -> list[Alert]:
    """Drive one rule over a stream with the Monitor's dispatch: finite steps to
    `on_finite` rules, NaN/Inf steps to `on_nonfinite` rules, evaluations to `on_eval`."""
    context = RunContext(total_steps)
    context.add_events(list(events))
    alerts: list[Alert] = []
    for step, loss in enumerate(losses):
        obs = Observation(step, loss, None if lrs is None else lrs[step])
        obs.batch_index = step % 100
        obs.grad_norm = None if grad_norms is None else grad_norms[step]
        finite = math.isfinite(loss) and (obs.grad_norm is None or math.isfinite(obs.grad_norm))
        context.advance(step, obs.lr, obs.log_loss if finite else None)
        if finite:
            context.last_finite_loss, context.last_finite_step = loss, step
        if (rule.on_finite and finite) or (rule.on_nonfinite and not finite):
            found = rule.update(obs, context)
            alerts += found
            context.fired.update({a.rule: a.step for a in found})
        if evals and step in evals and rule.on_eval:
            eval_obs = Observation(step, math.nan, obs.lr)
            eval_obs.val_loss = evals[step]
            alerts += rule.update(eval_obs, context)
    return alerts


@pytest.fixture
def streams() -> SimpleNamespace:
    return SimpleNamespace(healthy=healthy, restarts_lr=restarts_lr, restarts_loss=restarts_loss, feed=feed)


StepsOf = Callable[[list[Alert]], list[int]]


@pytest.fixture
def steps_of() -> StepsOf:
    return lambda alerts: [a.step for a in alerts]

"""The two rule changes made after the held-out detection benchmark (see
benchmarks/detection/README.md, "Calibration protocol"): each on a scripted stream where
the old test misses and the new one fires, and streams where both must stay quiet."""

from __future__ import annotations

import json
import math
import random

import pytest

from lr_callbacks.diagnostics import Monitor, PlateauRule, SpikeRule

OLD_PLATEAU = {"min_drop": 0.999}  # the "no new best" test alone, as before the change
OLD_SPIKE = {"big_ratio": 1e9}  # the 6-sigma test alone, as before the change


def _creep(n: int = 4000, seed: int = 0, exponent: float = 0.035, sigma: float = 0.05) -> list[float]:
    """Stuck at 2.3 for 100 steps, a fast descent to 1.0 by step 600 (~50% per doubling
    of the steps), then a slow power-law creep (~2.4% per doubling): every 2% gain comes
    just in time to reset the best before the growing patience runs out."""
    rng = random.Random(seed)
    out = []
    for t in range(n):
        if t < 100:
            base = math.log(2.3)
        elif t < 600:
            base = math.log(2.3) * (600 - t) / 500
        else:
            base = -exponent * math.log(t / 600)
        out.append(math.exp(base + rng.gauss(0.0, sigma)))
    return out


def _power_law(n: int, sigma: float, seed: int = 0, stall: tuple[int, int] | None = None) -> list[float]:
    """A healthy power-law curve with log-normal noise, optionally frozen over `stall`."""
    rng = random.Random(seed)
    out = []
    for t in range(n):
        u = t if stall is None or t < stall[0] else max(stall[0], t - (stall[1] - stall[0]))
        out.append(2.3 * (1 + u / 10) ** -0.15 * math.exp(rng.gauss(0.0, sigma)))
    return out


# --------------------------------------------------------------- plateau: stalled rate
def test_slow_creep_after_a_descent_is_missed_by_the_best_test_and_caught_by_the_rate(streams):
    lrs = [0.05] * 4000
    assert streams.feed(PlateauRule(**OLD_PLATEAU), _creep(), lrs=lrs) == []
    (alert,) = streams.feed(PlateauRule(), _creep(), lrs=lrs)
    assert 1000 <= alert.step < 4000
    assert "nearly stopped improving" in alert.message and "per doubling" in alert.message
    assert alert.evidence["rate"] < 0.1 * alert.evidence["peak_rate"]


@pytest.mark.parametrize("seed", [1, 2])
def test_slow_creep_other_seeds(streams, seed):
    losses = _creep(seed=seed)
    assert [a.step for a in streams.feed(PlateauRule(**OLD_PLATEAU), losses)] == []
    assert len(streams.feed(PlateauRule(), losses)) == 1


PLATEAU_QUIET = [
    ("healthy power law, batch-16 noise", lambda: _power_law(6000, 0.2), None),
    ("healthy power law, batch-4 noise", lambda: _power_law(6000, 0.4), None),
    ("a 500-step stall in a noisy healthy run", lambda: _power_law(3000, 0.2, stall=(400, 900)), None),
    ("a steady creep at a run's own pace", lambda: _creep(exponent=0.3), None),
]  # fmt: skip


@pytest.mark.parametrize(("label", "make", "lrs"), PLATEAU_QUIET)
def test_plateau_rate_stays_quiet(streams, label, make, lrs):
    assert streams.feed(PlateauRule(), make(), lrs=lrs) == []


def test_plateau_rate_restarts_at_warm_restarts(streams):
    losses, lrs = streams.restarts_loss(4000), streams.restarts_lr(4000)
    assert streams.feed(PlateauRule(), losses, lrs=lrs) == []


def test_plateau_rate_state_is_bounded_and_resumes_exactly():
    losses = _creep(20000)

    def run(monitor: Monitor, start: int, stop: int) -> None:
        for step in range(start, stop):
            monitor.observe(step, losses[step], [0.05])

    whole = Monitor(rules=[PlateauRule()], stop_on=(), log=False)
    run(whole, 0, 20000)
    assert any("nearly stopped improving" in a.message for a in whole.alerts)
    state = whole.rules[0].state_dict()
    assert len(state["mark_steps"]) < 200  # geometric checkpoints, not one per check
    for stop in (700, 1337, 2110, 2500, 9000):
        first = Monitor(rules=[PlateauRule()], stop_on=(), log=False)
        run(first, 0, stop)
        resumed = Monitor(rules=[PlateauRule()], stop_on=(), log=False)
        resumed.load_state_dict(json.loads(json.dumps(first.state_dict(), allow_nan=False)))
        run(resumed, stop, 20000)
        assert [a.to_dict() for a in resumed.alerts] == [a.to_dict() for a in whole.alerts]


# ---------------------------------------------------------- spike: order-of-magnitude jumps
def _tiny_loss(n: int, sigma: float = 0.55, seed: int = 0) -> list[float]:
    """A fitted model at ~0.02 nats: one or two hard samples rule each batch, and the
    log-loss spreads ~0.55 (as in the held-out breast-cancer run)."""
    rng = random.Random(seed)
    return [0.02 * math.exp(rng.gauss(0.0, sigma)) for _ in range(n)]


def _times(losses: list[float], at: dict[int, float]) -> list[float]:
    return [x * at.get(t, 1.0) for t, x in enumerate(losses)]


def test_15x_bad_batch_in_wide_log_noise_is_missed_by_6_sigma_and_caught_by_10x(streams):
    losses = _times(_tiny_loss(3000), {1500: 15.0 / math.exp(_log_noise_at(1500))})
    assert streams.feed(SpikeRule(**OLD_SPIKE), losses) == []
    (alert,) = streams.feed(SpikeRule(), losses)
    assert alert.step == 1500 and 4.0 < alert.evidence["z"] < 6.0
    assert "likely a bad batch" in alert.cause and alert.evidence["loss"] > 10 * alert.evidence["recent_mean"]


def _log_noise_at(step: int, seed: int = 0, sigma: float = 0.55) -> float:
    rng = random.Random(seed)
    return [rng.gauss(0.0, sigma) for _ in range(step + 1)][step]


SPIKE_QUIET = [
    ("tiny-loss noise, 10k steps", lambda: _tiny_loss(10000)),
    ("batch-4 noise (log spread 0.8), 10k steps", lambda: _tiny_loss(10000, sigma=0.8, seed=1)),
    ("batch-16 noise", lambda: _power_law(10000, 0.2)),
    ("a 5x jump in wide log noise is within it",
     lambda: _times(_tiny_loss(3000), {1500: 5.0 / math.exp(_log_noise_at(1500))})),
]  # fmt: skip


@pytest.mark.parametrize(("label", "make"), SPIKE_QUIET)
def test_spike_big_jump_test_stays_quiet(streams, label, make):
    assert streams.feed(SpikeRule(), make()) == []


def test_spike_big_jump_test_is_off_where_6_sigma_already_covers_it(streams):
    # at batch-64 noise (0.1) a 10x jump is 23 sigma: both tests agree, one alert
    losses = _times(streams.healthy(3000), {1500: 10.0})
    assert [a.step for a in streams.feed(SpikeRule(), losses)] == [1500]
    assert [a.step for a in streams.feed(SpikeRule(**OLD_SPIKE), losses)] == [1500]


def test_spike_big_jump_needs_big_z(streams):
    losses = _times(_tiny_loss(3000), {1500: 15.0 / math.exp(_log_noise_at(1500))})
    assert streams.feed(SpikeRule(big_z=5.5), losses) == []

"""The range-test core: the sweep driver's stop rule, the robust suggestion, flags, JSON, apply."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lr_callbacks.range_test import (
    RangeTest,
    RangeTestResult,
    peak_lr_of,
    schedule_after_range_test,
    suggest,
    sweep_options,
)
from lr_callbacks.schedules import Constant, OneCycle, Sweep, Warmup, WarmupCosine, parse
from lr_callbacks.smoothing import lowess, running_median

LRS = [1e-7 * (1e8) ** (i / 99) for i in range(100)]  # the default ladder
STEP = 8 / 99  # decades per ladder step


def clean_curve(onset_decade: float = -1.0, plateau: float = 2.3, floor: float = 0.3) -> np.ndarray:
    """A plateau, a valley two decades below the onset, and an explosion that crosses the plateau there."""
    x = np.log10(LRS)
    valley = floor + (plateau - floor) / (1 + np.exp(4 * (x - onset_decade + 2)))
    return valley * np.exp(np.clip(3.0 * (x - onset_decade + 0.65), 0, None) ** 2)


def true_onset(curve: np.ndarray) -> float:
    start = int(np.argmin(curve))
    return LRS[start + int(np.nonzero(curve[start:] > curve[0])[0][0])]


def noisy(curve: np.ndarray, seed: int, sd: float = 0.05) -> list[float]:
    return list(curve * np.exp(np.random.default_rng(seed).normal(0, sd, curve.size)))


@pytest.mark.parametrize("onset_decade", [-3.0, -2.0, -1.0, 0.0])
def test_noise_free_curve_gives_the_onset_within_a_step(onset_decade: float) -> None:
    curve = clean_curve(onset_decade)
    result = suggest(LRS, list(curve))
    assert abs(math.log10(result.divergence_lr) - math.log10(true_onset(curve))) <= STEP + 1e-9
    assert result.suggested_peak_lr == pytest.approx(result.divergence_lr / 10)
    assert result.suggested_constant_lr == pytest.approx(result.divergence_lr / 30)
    assert result.flags == ()


@pytest.mark.parametrize("seed", range(8))
def test_noisy_curves_stay_within_two_steps_of_the_onset(seed: int) -> None:
    curve = clean_curve(-1.0)
    result = suggest(LRS, noisy(curve, seed, sd=0.1))
    assert abs(math.log10(result.divergence_lr) - math.log10(true_onset(curve))) <= 2 * STEP + 1e-9
    assert result.minimum_lr < result.divergence_lr
    assert result.steepest_lr <= result.minimum_lr
    assert result.flags == ()


@pytest.mark.parametrize("seed", range(8))
def test_injected_spikes_do_not_move_the_suggestion(seed: int) -> None:
    losses = noisy(clean_curve(-1.0), seed)
    spiked = list(losses)
    for i in np.random.default_rng(100 + seed).choice(np.arange(15, 70), size=3, replace=False):
        spiked[int(i)] *= 5
    assert suggest(LRS, spiked).suggested_peak_lr == suggest(LRS, losses).suggested_peak_lr


def test_negative_losses_are_handled_without_the_log() -> None:
    curve = clean_curve(-1.0)
    shifted = suggest(LRS, list(curve - 10.0))
    assert shifted.flags == ()
    assert abs(math.log10(shifted.divergence_lr) - math.log10(true_onset(curve))) <= STEP + 1e-9


def test_a_non_finite_loss_ends_the_curve_and_marks_the_onset() -> None:
    losses = [*list(clean_curve(0.5))[:80], float("nan")]
    result = suggest(LRS[:81], losses)
    assert len(result.smoothed) == 80
    assert result.divergence_lr == LRS[80]
    assert "no_divergence_in_range" not in result.flags


def test_too_few_points_gives_no_suggestion() -> None:
    result = suggest(LRS[:19], list(clean_curve())[:19])
    assert result.flags == ("too_few_points",)
    assert result.suggested_peak_lr is None and result.smoothed == ()
    with pytest.raises(ValueError, match="needs a suggestion"):
        result.apply(OneCycle(peak_lr=1.0))


def test_a_sweep_that_ends_before_the_rise_is_a_lower_bound() -> None:
    result = suggest(LRS[:65], list(clean_curve(-1.0))[:65])  # the sweep ends at 1.5e-2
    assert result.flags == ("no_divergence_in_range",)
    assert result.divergence_lr == LRS[64]
    assert "lower bound" in result.message()
    assert result.apply(OneCycle(peak_lr=1.0)).peak_lr == pytest.approx(LRS[64] / 10)


def test_a_loss_that_rises_from_the_start_diverged_immediately() -> None:
    rising = list(2.0 * np.exp(np.linspace(0, 4, 100)))
    result = suggest(LRS, rising)
    assert "diverged_immediately" in result.flags
    with pytest.raises(ValueError, match=r"not trustworthy; got flags=\('diverged_immediately'"):
        result.apply(OneCycle(peak_lr=1.0))
    assert result.apply(OneCycle(peak_lr=1.0), force=True).peak_lr == result.suggested_peak_lr


def test_pure_noise_has_no_clear_valley() -> None:
    result = suggest(LRS, noisy(np.full(100, 2.0), 3, sd=0.1))
    assert "no_clear_valley" in result.flags
    assert "check the plot" in result.message()


def test_a_clean_curve_message_names_the_suggestion() -> None:
    result = suggest(LRS, list(clean_curve(-1.0)))
    assert result.message().startswith(f"LR range test: suggested peak LR {result.suggested_peak_lr:.3g}")


@pytest.mark.parametrize(
    ("lrs", "losses", "match"),
    [
        ([1e-3, 1e-2], [1.0], r"one value per update; got len\(lrs\)=2, len\(losses\)=1"),
        ([1e-3, 0.0], [1.0, 1.0], r"finite and > 0; got lr=0.0"),
        ([1e-3, float("inf")], [1.0, 1.0], r"got lr=inf"),
    ],
)
def test_suggest_rejects_bad_curves(lrs: list[float], losses: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        suggest(lrs, losses)


# --- the result: JSON and apply -------------------------------------------------------------------


def test_json_round_trip_is_strict_and_exact() -> None:
    losses = [*list(clean_curve(0.5))[:80], float("inf")]
    result = suggest(LRS[:81], losses, stop_reason="nonfinite")
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)  # strict JSON: inf became None
    back = RangeTestResult.from_dict(json.loads(text))
    assert back.to_dict() == data
    assert back.losses[:80] == result.losses[:80] and math.isnan(back.losses[80])
    assert back.flags == result.flags and back.stop_reason == "nonfinite"


def test_from_dict_rejects_missing_unknown_keys_and_versions() -> None:
    data = suggest(LRS, list(clean_curve())).to_dict()
    with pytest.raises(ValueError, match=r"expected keys .*got keys=\[.*'extra'"):
        RangeTestResult.from_dict({**data, "extra": 1})
    with pytest.raises(ValueError, match="expected keys"):
        RangeTestResult.from_dict({k: v for k, v in data.items() if k != "flags"})
    with pytest.raises(ValueError, match="expected version 1; got version=99"):
        RangeTestResult.from_dict({**data, "version": 99})


def test_apply_sets_the_peak_of_any_built_in_and_keeps_the_rest() -> None:
    result = suggest(LRS, list(clean_curve(-1.0)))
    peak, constant = result.suggested_peak_lr, result.suggested_constant_lr
    one_cycle = result.apply(OneCycle(peak_lr=1.0, pct_start=0.25))
    assert one_cycle == OneCycle(peak_lr=peak, pct_start=0.25)
    assert result.apply("warmup_cosine(peak_lr=1.0, warmup=0.05)") == WarmupCosine(peak_lr=peak, warmup=0.05)
    assert result.apply(Constant(peak_lr=1.0)) == Constant(peak_lr=constant)
    wrapped = result.apply(Warmup(schedule=OneCycle(peak_lr=1.0), warmup=10))
    assert wrapped == Warmup(schedule=OneCycle(peak_lr=peak), warmup=10)


def test_apply_refuses_schedules_without_a_peak() -> None:
    result = suggest(LRS, list(clean_curve(-1.0)))
    with pytest.raises(ValueError, match=r"needs a peak_lr field; got schedule='sweep\(\)'"):
        result.apply(Sweep())


# --- the sweep driver ---------------------------------------------------------------------------------


def run(test: RangeTest, losses: list[float]) -> RangeTest:
    for i, loss in enumerate(losses):
        test.record(i, loss)
        if test.should_stop:
            break
    return test


def test_ladder_is_the_sweep_schedule() -> None:
    test = RangeTest()
    assert [test.lr(i) for i in range(100)] == pytest.approx(LRS, rel=1e-12)
    assert test.lr(0) == 1e-7 and test.lr(99) == 10.0
    linear = RangeTest(start_lr=0.0 + 1e-3, end_lr=1.0, num_steps=11, mode="linear")
    assert linear.lr(5) == pytest.approx(0.5005)


def test_non_finite_loss_stops_at_once() -> None:
    test = run(RangeTest(), [2.0] * 12 + [float("nan"), 1.0])
    assert test.should_stop and test.stop_reason == "nonfinite" and len(test.losses) == 13


def test_sustained_rise_stops_after_three_confirmations() -> None:
    test = run(RangeTest(), [1.0] * 20 + [10.0] * 20)
    # the median of 5 turns at update 22; 3 confirmations later (update 24) the sweep stops
    assert test.stop_reason == "diverged" and len(test.losses) == 25


@pytest.mark.parametrize("spikes", [(30,), (30, 32), (30, 32, 34), (40, 45, 50)])
def test_isolated_spikes_do_not_stop_the_sweep(spikes: tuple[int, ...]) -> None:
    losses = [1.0] * 100
    for i in spikes:
        losses[i] = 100.0
    test = run(RangeTest(), losses)
    assert test.stop_reason == "end_of_sweep" and len(test.losses) == 100


def test_no_stop_during_the_warm_up() -> None:
    test = run(RangeTest(), [1.0, 1.0, 1.0, 1.0, 1.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0])
    assert test.stop_reason == "diverged" and len(test.losses) == 13


def test_stop_rule_is_sign_safe() -> None:
    assert run(RangeTest(), [-5.0] * 100).stop_reason == "end_of_sweep"
    rising = run(RangeTest(), [-1.0] * 20 + [4.0] * 10)
    assert rising.stop_reason == "diverged" and len(rising.losses) == 25


def test_result_uses_the_recorded_points_and_the_stop_reason() -> None:
    curve = list(clean_curve(-1.0))
    test = run(RangeTest(), curve)
    result = test.result()
    assert result.stop_reason == "diverged" and len(result.losses) < 100
    assert result.lrs == tuple(test.lrs) and result.flags == ()
    assert result.suggested_peak_lr == suggest(test.lrs, curve[: len(result.losses)]).suggested_peak_lr


def test_record_must_follow_the_ladder_and_stop() -> None:
    test = RangeTest(num_steps=20)
    with pytest.raises(ValueError, match=r"in order; expected i=0, got i=1"):
        test.record(1, 1.0)
    run(test, [1.0] * 20)
    assert test.stop_reason == "end_of_sweep"
    with pytest.raises(ValueError, match=r"the sweep has stopped \(end_of_sweep\); got i=20"):
        test.record(20, 1.0)
    with pytest.raises(ValueError, match=r"update index in \[0, 19\]; got i=20"):
        test.lr(20)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start_lr": 0.0}, ValueError, r"RangeTest: start_lr must be a finite number > 0; got start_lr=0.0"),
        ({"start_lr": "1e-7"}, TypeError, r"RangeTest: start_lr must be a number; got start_lr='1e-7'"),
        (
            {"end_lr": 1e-8},
            ValueError,
            r"RangeTest: end_lr must be a finite number > 1e-07; got end_lr=1e-08",
        ),
        ({"num_steps": 1}, ValueError, r"RangeTest: num_steps must be an int >= 2; got num_steps=1"),
        ({"num_steps": 10.0}, TypeError, r"RangeTest: num_steps must be an int; got num_steps=10.0"),
        ({"mode": "log"}, ValueError, r"RangeTest: mode must be 'exp' or 'linear'; got mode='log'"),
    ],
)
def test_range_test_rejects_bad_arguments(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        RangeTest(**kwargs)  # type: ignore[arg-type]


# --- smoothing helpers ----------------------------------------------------------------------------


def test_lowess_reproduces_a_line_and_ignores_an_outlier() -> None:
    x = np.linspace(-7.0, 1.0, 60)
    y = 0.5 * x + 2.0
    fit, slope = lowess(x, y, 7)
    assert fit == pytest.approx(y) and slope == pytest.approx(np.full(60, 0.5))
    y_noisy = y + np.random.default_rng(0).normal(0, 0.01, 60)
    y_out = y_noisy.copy()
    y_out[30] += 40.0
    fit_out, _ = lowess(x, y_out, 7)
    assert np.max(np.abs(fit_out - y)) < 0.05


def test_running_median_is_centred_and_cut_at_the_ends() -> None:
    assert running_median(np.array([5.0, 1.0, 9.0, 2.0, 7.0, 3.0]), 2).tolist() == [
        5.0,
        3.5,
        5.0,
        3.0,
        5.0,
        3.0,
    ]


def test_peak_lr_of_reads_through_wrappers_and_is_none_without_one() -> None:
    assert peak_lr_of(parse("warmup_cosine(peak_lr=3e-4, warmup=0.05)")) == 3e-4
    assert peak_lr_of(Warmup(OneCycle(peak_lr=0.2), warmup=3)) == 0.2
    assert peak_lr_of(lambda t: 0.1) is None and peak_lr_of(None) is None


def test_sweep_options_checks_the_argument_and_the_schedule() -> None:
    assert sweep_options("LRCallback", False, "cosine(peak_lr=1)") is None
    assert sweep_options("LRCallback", True, "cosine(peak_lr=1)") == {}
    assert sweep_options("LRCallback", {"batch_size": 8}, "cosine(peak_lr=1)", extra=("batch_size",)) == {
        "batch_size": 8
    }
    with pytest.raises(TypeError, match=r"LRCallback: find_lr must be True, False or a dict"):
        sweep_options("LRCallback", "yes", "cosine(peak_lr=1)")
    with pytest.raises(
        ValueError, match=r"LRCallback: find_lr options must be among .*got unknown \['steps'\]"
    ):
        sweep_options("LRCallback", {"steps": 3}, "cosine(peak_lr=1)")
    with pytest.raises(ValueError, match=r"LRCallback: find_lr replaces the schedule's peak_lr"):
        sweep_options("LRCallback", True, lambda t: 0.1)


def test_schedule_after_range_test_applies_a_clean_suggestion_and_keeps_the_peak_when_flagged() -> None:
    clean = RangeTestResult((), (), (), None, None, 0.3, 0.03, 0.01, ())
    schedule, line, applied = schedule_after_range_test(OneCycle(peak_lr=1.0), clean)
    assert applied and schedule == OneCycle(peak_lr=0.03) and "Training with one_cycle(peak_lr=0.03" in line
    flagged = RangeTestResult((), (), (), None, None, 0.3, 0.03, 0.01, ("no_clear_valley",))
    schedule, line, applied = schedule_after_range_test(OneCycle(peak_lr=1.0), flagged)
    assert not applied and schedule == OneCycle(peak_lr=1.0) and "Keeping the schedule's peak_lr=1" in line
    bound = RangeTestResult((), (), (), None, None, 0.3, 0.03, 0.01, ("no_divergence_in_range",))
    assert schedule_after_range_test(OneCycle(peak_lr=1.0), bound)[2]  # only a lower bound: still applied

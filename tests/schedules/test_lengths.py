"""Lengths: steps, fractions of T and epochs, resolved once with floor(x + 0.5)."""

from __future__ import annotations

import pytest

from lr_callbacks.schedules import Constant, Sequence, Warmup, WarmupCosine, WarmupStableDecay
from lr_callbacks.schedules.lengths import Horizon


@pytest.mark.parametrize(
    ("length", "total", "per_epoch", "steps"),
    [
        (0, 100, None, 0),
        (7, None, None, 7),
        (7, 5, None, 7),  # an int is steps whatever T is (fit is checked by the schedule)
        (0.05, 1010, None, 51),  # 50.5 rounds up
        (0.05, 1000, None, 50),
        (0.25, 10, None, 3),  # 2.5 -> 3
        (0.24, 10, None, 2),  # 2.4 -> 2
        (0.26, 10, None, 3),
        (1.0, 977, None, 977),
        (0.001, 100, None, 0),  # 0.1 -> 0
        ("1.5ep", None, 100, 150),
        ("2ep", 1, 7, 14),
        ("0.5ep", None, 3, 2),  # 1.5 -> 2
        (" 3 epochs ", None, 4, 12),
        ("1 epoch", None, 9, 9),
        (".25ep", None, 10, 3),  # 2.5 -> 3
    ],
)
def test_resolution(length, total, per_epoch, steps):
    got = Horizon(total, per_epoch).resolve("owner", "warmup", length)
    assert got == steps
    assert type(got) is int


def test_a_fraction_resolves_inside_a_schedule():
    lr = WarmupCosine(peak_lr=1.0, warmup=0.05).bind(1010)
    assert lr(50) == pytest.approx(50 / 51, rel=1e-12)  # still warming up: W = 51
    assert lr(51) == 1.0


def test_epochs_resolve_inside_a_schedule():
    lr = WarmupStableDecay(peak_lr=1.0, warmup="1.5ep", decay="2ep").bind(1000, steps_per_epoch=100)
    assert lr(75) == 0.5
    assert lr(150) == 1.0
    assert lr(800) == 1.0
    assert lr(900) == 0.5


def test_rounding_rule_holds_for_decimal_halves():
    assert Horizon(50).resolve("owner", "warmup", 0.29) == 15


def test_fraction_without_total_names_total_steps():
    with pytest.raises(
        ValueError, match=r"with_warmup: .*warmup=0\.05 \(a fraction.*total_steps=None.*total_steps=N"
    ):
        Warmup(Constant(peak_lr=1.0), warmup=0.05).bind()


def test_epochs_without_steps_per_epoch_names_it():
    with pytest.raises(
        ValueError, match=r"warmup='2ep' is in epochs.*steps_per_epoch=None.*steps_per_epoch=K"
    ):
        WarmupCosine(peak_lr=1.0, warmup="2ep").bind(1000)


def test_schedule_needing_total_says_so():
    with pytest.raises(ValueError, match=r"wsd: .*stable phase \(or pass stable=\); got total_steps=None"):
        WarmupStableDecay(peak_lr=1.0, warmup=10, decay=10).bind()


def test_total_is_not_needed_when_every_length_is_in_steps():
    lr = WarmupStableDecay(peak_lr=1.0, warmup=2, stable=2, decay=2).bind()
    assert [lr(t) for t in range(8)] == [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    assert Constant(peak_lr=2.0).bind()(10**9) == 2.0


@pytest.mark.parametrize("bad", [0, -5])
def test_total_steps_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match=rf"total_steps must be an int >= 1; got total_steps={bad!r}"):
        Constant(peak_lr=1.0).bind(total_steps=bad)


@pytest.mark.parametrize("bad", [0, -1])
def test_steps_per_epoch_must_be_a_positive_int(bad):
    with pytest.raises(
        ValueError, match=rf"steps_per_epoch must be an int >= 1; got steps_per_epoch={bad!r}"
    ):
        Constant(peak_lr=1.0).bind(total_steps=10, steps_per_epoch=bad)


def test_steps_per_epoch_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match=r"steps_per_epoch must be an int; got steps_per_epoch=2\.5"):
        Constant(peak_lr=1.0).bind(total_steps=10, steps_per_epoch=2.5)


@pytest.mark.parametrize("bad", [True, 1.5, "100"])
def test_total_steps_of_the_wrong_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="total_steps"):
        Constant(peak_lr=1.0).bind(total_steps=bad)


def test_sequence_lengths_resolve_against_the_run():
    lr = Sequence((Constant(peak_lr=1.0), Constant(peak_lr=1.0)), lengths=(0.5,)).bind(7)  # 3.5 -> 4
    assert lr.phases[1].start == 4


def test_a_length_of_one_as_a_float_is_refused_as_ambiguous():
    # 1 (one step) and 1.0 (the whole run) would compare equal as specs yet bind differently,
    # so a fraction must lie strictly inside (0, 1).
    with pytest.raises(ValueError, match=r"must be in \(0, 1\); got warmup=1\.0"):
        WarmupCosine(peak_lr=1.0, warmup=1.0)

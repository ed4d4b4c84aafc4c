"""Lints: each code fires on a case built for it and stays quiet on a clean schedule."""

from __future__ import annotations

import pytest

from lr_callbacks.schedules import (
    Cosine,
    CosineRestarts,
    OneCycle,
    Warmup,
    WarmupCosine,
    WarmupStableDecay,
    lint,
)

CLEAN = [
    ("with_warmup-start_ratio", Warmup(Cosine(peak_lr=3e-4), warmup=500, start_ratio=0.01), 10_000),
    ("wsd-floor", WarmupStableDecay(peak_lr=3e-4, warmup=500, decay=0.2, min_lr_ratio=0.1), 10_000),
    ("one_cycle", OneCycle(peak_lr=1e-3), 10_000),
    ("restarts", CosineRestarts(peak_lr=1e-3, cycle_steps=2500, cycle_decay=0.5, min_lr=1e-5), 10_000),
    ("cosine", Cosine(peak_lr=1e-3, min_lr_ratio=0.1), 10_000),
]

# code, bound schedule that should trigger it, a fragment of the message
FIRES = [
    ("zero_lr_at_start", WarmupCosine(peak_lr=1e-3, warmup=500).bind(10_000), "update 0 is 0"),
    (
        "wsd_length_mismatch",
        WarmupStableDecay(peak_lr=1e-3, warmup=100, stable=500, decay=200).bind(1000),
        "warmup + stable + decay = 800 steps but the run has total_steps=1000",
    ),
    (
        "wsd_length_mismatch",
        WarmupStableDecay(peak_lr=1e-3, warmup=100, stable=900, decay=200).bind(1000),
        "cut before the decay ends",
    ),
    ("one_cycle_short_leg", OneCycle(peak_lr=1e-3, pct_start=0.1).bind(15), "pct_start*T - 1 = 0.5"),
    (
        "floor_above_peak",
        CosineRestarts(peak_lr=1e-3, cycle_steps=100, cycle_decay=0.1, min_lr=5e-4).bind(1000),
        "below the floor",
    ),
    (
        "short_decay",
        WarmupStableDecay(peak_lr=1e-3, warmup=500, decay=100, min_lr_ratio=0.1).bind(10_000),
        "the decay lasts 100 steps, 1.0% of the run",
    ),
    (
        "short_warmup",
        Warmup(Cosine(peak_lr=1e-3), warmup=50, start_ratio=0.1).bind(10_000),
        "the warmup is 50 steps",
    ),
    ("ends_after_run", Cosine(peak_lr=1e-3, decay_steps=2000).bind(1000), "ends at step 2000, after the run"),
]


@pytest.mark.parametrize(("spec", "total"), [c[1:] for c in CLEAN], ids=[c[0] for c in CLEAN])
def test_clean_schedules_are_quiet(spec, total):
    assert lint(spec.bind(total)) == []


@pytest.mark.parametrize(
    ("code", "bound", "fragment"), FIRES, ids=[f"{f[0]}-{i}" for i, f in enumerate(FIRES)]
)
def test_each_lint_fires_on_its_case(code, bound, fragment):
    found = lint(bound)
    assert code in [x.code for x in found]
    message = next(x.message for x in found if x.code == code)
    assert fragment in message


@pytest.mark.parametrize(
    ("code", "near_miss"),
    [
        ("zero_lr_at_start", Warmup(Cosine(peak_lr=1e-3), warmup=500, start_ratio=0.01).bind(10_000)),
        (
            "wsd_length_mismatch",
            WarmupStableDecay(peak_lr=1e-3, warmup=100, stable=700, decay=200).bind(1000),
        ),
        ("one_cycle_short_leg", OneCycle(peak_lr=1e-3, pct_start=0.2).bind(10)),  # leg of exactly 1 step
        (
            "floor_above_peak",
            CosineRestarts(peak_lr=1e-3, cycle_steps=100, cycle_decay=0.5, min_lr=1e-5).bind(300),
        ),
        (
            "short_decay",
            WarmupStableDecay(peak_lr=1e-3, warmup=500, decay=500, min_lr_ratio=0.1).bind(10_000),
        ),
        ("short_warmup", Warmup(Cosine(peak_lr=1e-3), warmup=100, start_ratio=0.1).bind(10_000)),
        ("ends_after_run", Cosine(peak_lr=1e-3, decay_steps=1000).bind(1000)),
    ],
)
def test_each_lint_is_quiet_just_past_its_threshold(code, near_miss):
    assert code not in [x.code for x in lint(near_miss)]


def test_lint_codes_are_the_documented_set():
    found = {x.code for _, bound, _ in FIRES for x in lint(bound)}
    assert found == {
        "zero_lr_at_start",
        "wsd_length_mismatch",
        "one_cycle_short_leg",
        "floor_above_peak",
        "short_decay",
        "short_warmup",
        "ends_after_run",
    }

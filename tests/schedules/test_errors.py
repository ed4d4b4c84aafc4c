"""Bad input: every validated argument of every built-in raises, naming the argument and the value."""

from __future__ import annotations

import math

import pytest

from lr_callbacks.schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Linear,
    OneCycle,
    OneCycleMomentum,
    Polynomial,
    Sequence,
    StepDecay,
    Sweep,
    Warmup,
    WarmupCosine,
    WarmupStableDecay,
    from_dict,
    parse,
    registry,
)

#: One minimal valid call per family, taking peak_lr as its first argument.
PEAKED = {
    "constant": lambda p: Constant(peak_lr=p),
    "step_decay": lambda p: StepDecay(peak_lr=p, gamma=0.1, step_size=10),
    "cosine": lambda p: Cosine(peak_lr=p),
    "cosine_restarts": lambda p: CosineRestarts(peak_lr=p, cycle_steps=10),
    "warmup_cosine": lambda p: WarmupCosine(peak_lr=p, warmup=10),
    "one_cycle": lambda p: OneCycle(peak_lr=p),
    "wsd": lambda p: WarmupStableDecay(peak_lr=p, warmup=10, decay=10),
    "linear": lambda p: Linear(peak_lr=p),
    "polynomial": lambda p: Polynomial(peak_lr=p),
    "exponential": lambda p: Exponential(peak_lr=p, gamma=0.9),
    "inverse_sqrt": lambda p: InverseSqrt(peak_lr=p),
}

BAD_PEAKS = [
    (-1.0, ValueError, r"-1\.0"),
    (0.0, ValueError, r"0\.0"),
    (math.nan, ValueError, "nan"),
    (math.inf, ValueError, "inf"),
    (True, TypeError, "True"),
    ("3e-4", TypeError, "'3e-4'"),
    (None, TypeError, "None"),
]


@pytest.mark.parametrize(("value", "error", "shown"), BAD_PEAKS, ids=[repr(b[0]) for b in BAD_PEAKS])
@pytest.mark.parametrize("family", sorted(PEAKED))
def test_peak_lr(family, value, error, shown):
    with pytest.raises(error, match=rf"^{family}: peak_lr must be .*; got peak_lr={shown}\. Pass the LR"):
        PEAKED[family](value)


def raises(error, pattern):
    return (error, pattern)


# id, thunk, expected error, regex (argument name and received value)
CASES = [
    # step_decay
    (
        "gamma-0",
        lambda: StepDecay(peak_lr=1.0, gamma=0.0, step_size=1),
        ValueError,
        r"gamma must be .*\(0, 1\]; got gamma=0\.0",
    ),
    ("gamma-above-1", lambda: StepDecay(peak_lr=1.0, gamma=1.5, step_size=1), ValueError, r"got gamma=1\.5"),
    (
        "gamma-negative",
        lambda: StepDecay(peak_lr=1.0, gamma=-0.1, step_size=1),
        ValueError,
        r"got gamma=-0\.1",
    ),
    (
        "gamma-str",
        lambda: StepDecay(peak_lr=1.0, gamma="0.1", step_size=1),
        TypeError,
        r"gamma must be a number; got gamma='0\.1'",
    ),
    (
        "step_decay-neither",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1),
        ValueError,
        r"exactly one of step_size or milestones; got step_size=None, milestones=None",
    ),
    (
        "step_decay-both",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, step_size=2, milestones=(3,)),
        ValueError,
        r"got step_size=2, milestones=\(3,\)",
    ),
    (
        "step_size-0",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, step_size=0),
        ValueError,
        r"step_size must be at least 1 step; got step_size=0",
    ),
    (
        "step_size-negative",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, step_size=-3),
        ValueError,
        r"step_size must be >= 0 steps; got step_size=-3",
    ),
    (
        "step_size-fraction-above-1",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, step_size=1.5),
        ValueError,
        r"step_size as a float .*\(0, 1\); got step_size=1\.5",
    ),
    (
        "step_size-bad-epochs",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, step_size="2 weeks"),
        ValueError,
        r"step_size as a string .*'2ep'; got step_size='2 weeks'",
    ),
    (
        "step_size-list",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, step_size=[2]),
        TypeError,
        r"step_size must be a length; got step_size=\[2\]",
    ),
    (
        "step_size-resolves-0",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, step_size=0.001).bind(100),
        ValueError,
        r"step_size resolved to 0 steps",
    ),
    (
        "milestones-unsorted",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, milestones=(60, 30)).bind(100),
        ValueError,
        r"strictly increasing .*got milestones=\[60, 30\]",
    ),
    (
        "milestones-duplicate",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, milestones=(30, 30)).bind(100),
        ValueError,
        r"got milestones=\[30, 30\].*drop duplicates",
    ),
    (
        "milestones-resolve-equal",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, milestones=(0.5, 50)).bind(100),
        ValueError,
        r"resolved to \[50, 50\]",
    ),
    (
        "milestones-zero",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, milestones=(0, 5)).bind(100),
        ValueError,
        r"steps > 0; got milestones=\[0, 5\]",
    ),
    (
        "milestones-negative",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, milestones=(-5,)),
        ValueError,
        r"milestones must be >= 0 steps; got milestones=-5",
    ),
    (
        "milestones-bad-item",
        lambda: StepDecay(peak_lr=1.0, gamma=0.1, milestones=(10, None)),
        TypeError,
        r"milestones must be a length; got milestones=None",
    ),
    # floors (shared by cosine, restarts, warmup_cosine, wsd, linear, polynomial)
    (
        "floor-both",
        lambda: Cosine(peak_lr=1.0, min_lr=0.1, min_lr_ratio=0.1),
        ValueError,
        r"cosine: .*not both; got min_lr=0\.1, min_lr_ratio=0\.1",
    ),
    (
        "min_lr-above-peak",
        lambda: Cosine(peak_lr=1e-3, min_lr=1e-2),
        ValueError,
        r"min_lr must not exceed peak_lr=0\.001; got min_lr=0\.01",
    ),
    ("min_lr-negative", lambda: Cosine(peak_lr=1.0, min_lr=-1e-6), ValueError, r"got min_lr=-1e-06"),
    ("min_lr-nan", lambda: Cosine(peak_lr=1.0, min_lr=math.nan), ValueError, r"got min_lr=nan"),
    (
        "min_lr-str",
        lambda: Cosine(peak_lr=1.0, min_lr="0"),
        TypeError,
        r"min_lr must be a number; got min_lr='0'",
    ),
    (
        "min_lr_ratio-above-1",
        lambda: Cosine(peak_lr=1.0, min_lr_ratio=1.5),
        ValueError,
        r"min_lr_ratio must be .*\[0, 1\]; got min_lr_ratio=1\.5",
    ),
    (
        "min_lr_ratio-negative",
        lambda: Linear(peak_lr=1.0, min_lr_ratio=-0.1),
        ValueError,
        r"linear: .*got min_lr_ratio=-0\.1",
    ),
    (
        "restarts-floor-both",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=5, min_lr=0.1, min_lr_ratio=0.1),
        ValueError,
        r"cosine_restarts: .*not both",
    ),
    (
        "warmup_cosine-min_lr-above",
        lambda: WarmupCosine(peak_lr=1.0, warmup=1, min_lr=2.0),
        ValueError,
        r"warmup_cosine: min_lr must not exceed peak_lr=1\.0; got min_lr=2\.0",
    ),
    (
        "wsd-min_lr-above",
        lambda: WarmupStableDecay(peak_lr=1.0, warmup=1, decay=1, min_lr=2.0),
        ValueError,
        r"wsd: .*got min_lr=2\.0",
    ),
    (
        "polynomial-floor-both",
        lambda: Polynomial(peak_lr=1.0, min_lr=0.0, min_lr_ratio=0.0),
        ValueError,
        r"polynomial: .*not both",
    ),
    # cosine
    ("decay_steps-negative", lambda: Cosine(peak_lr=1.0, decay_steps=-1), ValueError, r"got decay_steps=-1"),
    (
        "decay_steps-bad",
        lambda: Cosine(peak_lr=1.0, decay_steps="soon"),
        ValueError,
        r"got decay_steps='soon'",
    ),
    (
        "linear-decay_steps-0",
        lambda: Linear(peak_lr=1.0, decay_steps=0).bind(10),
        ValueError,
        r"decay_steps resolved to 0 steps",
    ),
    ("cosine-no-total", lambda: Cosine(peak_lr=1.0).bind(), ValueError, r"cosine: .*got total_steps=None"),
    (
        "cosine-total-0",
        lambda: Cosine(peak_lr=1.0).bind(0),
        ValueError,
        r"total_steps must be an int >= 1; got total_steps=0",
    ),
    # cosine_restarts
    (
        "cycle_steps-negative",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=-2),
        ValueError,
        r"got cycle_steps=-2",
    ),
    (
        "cycle_steps-0",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=0).bind(10),
        ValueError,
        r"cycle_steps resolved to 0 steps",
    ),
    (
        "cycle_steps-none",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=None),
        TypeError,
        r"got cycle_steps=None",
    ),
    (
        "cycle_mult-below-1",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=5, cycle_mult=0.5),
        ValueError,
        r"cycle_mult must be .*; got cycle_mult=0\.5",
    ),
    (
        "cycle_decay-0",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=5, cycle_decay=0),
        ValueError,
        r"cycle_decay must be .*\(0, 1\]; got cycle_decay=0(\.0)?",
    ),
    (
        "cycle_decay-above-1",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=5, cycle_decay=2),
        ValueError,
        r"got cycle_decay=2(\.0)?",
    ),
    (
        "restarts-no-total",
        lambda: CosineRestarts(peak_lr=1.0, cycle_steps=5).bind(),
        ValueError,
        r"cosine_restarts: .*got total_steps=None",
    ),
    # warmup_cosine / with_warmup
    (
        "warmup-negative",
        lambda: WarmupCosine(peak_lr=1.0, warmup=-1),
        ValueError,
        r"warmup_cosine: warmup must be >= 0 steps; got warmup=-1",
    ),
    ("warmup-fraction-0", lambda: WarmupCosine(peak_lr=1.0, warmup=0.0), ValueError, r"got warmup=0\.0"),
    (
        "warmup-over-total",
        lambda: WarmupCosine(peak_lr=1.0, warmup=200).bind(100),
        ValueError,
        r"warmup must not exceed the run \(total_steps=100\); got warmup=200 steps",
    ),
    (
        "warmup-epochs-over-total",
        lambda: WarmupCosine(peak_lr=1.0, warmup="3ep").bind(100, 50),
        ValueError,
        r"total_steps=100\); got warmup=150 steps",
    ),
    (
        "with_warmup-not-a-schedule",
        lambda: Warmup("cosine", warmup=10),
        TypeError,
        r"with_warmup: schedule must be a schedule spec; got schedule='cosine'",
    ),
    (
        "with_warmup-over-total",
        lambda: Warmup(Constant(peak_lr=1.0), warmup=11).bind(10),
        ValueError,
        r"with_warmup: warmup must not exceed .*total_steps=10\); got warmup=11",
    ),
    (
        "start_ratio-above-1",
        lambda: Warmup(Constant(peak_lr=1.0), warmup=1, start_ratio=1.5),
        ValueError,
        r"got start_ratio=1\.5",
    ),
    (
        "start_ratio-negative",
        lambda: Warmup(Constant(peak_lr=1.0), warmup=1, start_ratio=-0.1),
        ValueError,
        r"got start_ratio=-0\.1",
    ),
    (
        "start_ratio-bool",
        lambda: Warmup(Constant(peak_lr=1.0), warmup=1, start_ratio=True),
        TypeError,
        r"got start_ratio=True",
    ),
    # one_cycle
    (
        "pct_start-0",
        lambda: OneCycle(peak_lr=1.0, pct_start=0.0),
        ValueError,
        r"pct_start must be .*\(0, 1\); got pct_start=0\.0",
    ),
    ("pct_start-1", lambda: OneCycle(peak_lr=1.0, pct_start=1.0), ValueError, r"got pct_start=1\.0"),
    (
        "pct_start-three-phase",
        lambda: OneCycle(peak_lr=1.0, pct_start=0.5, three_phase=True),
        ValueError,
        r"\(0, 0\.5\); got pct_start=0\.5.*three_phase=True",
    ),
    (
        "div_factor",
        lambda: OneCycle(peak_lr=1.0, div_factor=0.5),
        ValueError,
        r"div_factor must be .*; got div_factor=0\.5",
    ),
    (
        "final_div_factor",
        lambda: OneCycle(peak_lr=1.0, final_div_factor=0.0),
        ValueError,
        r"got final_div_factor=0\.0",
    ),
    (
        "anneal",
        lambda: OneCycle(peak_lr=1.0, anneal="cosine"),
        ValueError,
        r"anneal must be 'cos' or 'linear'; got anneal='cosine'",
    ),
    (
        "three_phase",
        lambda: OneCycle(peak_lr=1.0, three_phase="yes"),
        TypeError,
        r"three_phase must be True or False; got three_phase='yes'",
    ),
    (
        "one_cycle-no-total",
        lambda: OneCycle(peak_lr=1.0).bind(),
        ValueError,
        r"one_cycle: .*got total_steps=None",
    ),
    ("max_momentum", lambda: OneCycleMomentum(max_momentum=1.5), ValueError, r"max_momentum=1\.5"),
    (
        "base_momentum-above-max",
        lambda: OneCycleMomentum(max_momentum=0.9, base_momentum=0.95),
        ValueError,
        r"got base_momentum=0\.95",
    ),
    (
        "momentum_schedule-args",
        lambda: OneCycle(peak_lr=1.0).momentum_schedule(base_momentum=-0.1),
        ValueError,
        r"got base_momentum=-0\.1",
    ),
    # wsd
    (
        "decay_shape",
        lambda: WarmupStableDecay(peak_lr=1.0, warmup=1, decay=1, decay_shape="sqrt"),
        ValueError,
        r"decay_shape must be one of \['1-sqrt', 'cosine', 'linear'\]; got decay_shape='sqrt'",
    ),
    (
        "wsd-decay-bad",
        lambda: WarmupStableDecay(peak_lr=1.0, warmup=1, decay=-1),
        ValueError,
        r"wsd: decay must be >= 0 steps; got decay=-1",
    ),
    (
        "wsd-stable-bad",
        lambda: WarmupStableDecay(peak_lr=1.0, warmup=1, decay=1, stable=2.0),
        ValueError,
        r"got stable=2\.0",
    ),
    (
        "wsd-too-long",
        lambda: WarmupStableDecay(peak_lr=1.0, warmup=60, decay=0.5).bind(100),
        ValueError,
        r"warmup \+ decay must not exceed the run \(total_steps=100\); got warmup \+ decay=110",
    ),
    # legs
    ("power-0", lambda: Polynomial(peak_lr=1.0, power=0), ValueError, r"power must be .*; got power=0(\.0)?"),
    ("power-huge", lambda: Polynomial(peak_lr=1.0, power=1e3), ValueError, r"got power=1000\.0"),
    (
        "exp-gamma",
        lambda: Exponential(peak_lr=1.0, gamma=1.01),
        ValueError,
        r"exponential: gamma must be .*; got gamma=1\.01",
    ),
    (
        "timescale-0",
        lambda: InverseSqrt(peak_lr=1.0, timescale=0),
        ValueError,
        r"timescale must be an int >= 1; got timescale=0",
    ),
    (
        "timescale-float",
        lambda: InverseSqrt(peak_lr=1.0, timescale=2.5),
        (ValueError, TypeError),
        r"got timescale=2\.5",
    ),
    ("start_lr-0", lambda: Sweep(start_lr=0.0), ValueError, r"sweep: start_lr must be .*; got start_lr=0\.0"),
    (
        "end_lr-below-start",
        lambda: Sweep(start_lr=1e-3, end_lr=1e-4),
        ValueError,
        r"end_lr must be .*; got end_lr=0\.0001.*larger than start_lr",
    ),
    (
        "num_steps-1",
        lambda: Sweep(num_steps=1),
        ValueError,
        r"num_steps must be an int >= 2; got num_steps=1",
    ),
    ("num_steps-bool", lambda: Sweep(num_steps=True), (ValueError, TypeError), r"got num_steps=True"),
    ("sweep-mode", lambda: Sweep(mode="log"), ValueError, r"mode must be 'exp' or 'linear'; got mode='log'"),
    ("sweep-no-total", lambda: Sweep().bind(), ValueError, r"sweep: .*got total_steps=None"),
    # sequence
    (
        "sequence-lengths-count",
        lambda: Sequence((Constant(peak_lr=1.0),), lengths=(5,)),
        ValueError,
        r"one length per piece except the last; got 1 pieces and lengths=\[5\]",
    ),
    ("sequence-empty", lambda: Sequence((), lengths=()), ValueError, r"got 0 pieces"),
    (
        "sequence-piece",
        lambda: Sequence((Constant(peak_lr=1.0), 3.0), lengths=(5,)),
        TypeError,
        r"each piece must be a schedule or a callable t -> lr; got 3\.0",
    ),
    (
        "sequence-length-bad",
        lambda: Sequence((Constant(peak_lr=1.0),) * 2, lengths=(-5,)),
        ValueError,
        r"sequence: lengths must be >= 0 steps; got lengths=-5",
    ),
    (
        "sequence-over-total",
        lambda: Sequence((Constant(peak_lr=1.0),) * 2, lengths=(20,)).bind(10),
        ValueError,
        r"sum\(lengths\) must not exceed the run \(total_steps=10\); got sum\(lengths\)=20",
    ),
    (
        "sequence-callable-to_spec",
        lambda: Sequence((Constant(peak_lr=1.0), lambda t: 1.0), lengths=(5,)).to_spec(),
        TypeError,
        r"callable cannot be written as a spec",
    ),
]


@pytest.mark.parametrize(("make", "error", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


@pytest.mark.parametrize(
    "make",
    [lambda: InverseSqrt(peak_lr=1.0, timescale="100"), lambda: Sweep(num_steps="100")],
    ids=["timescale", "num_steps"],
)
def test_wrong_type_is_a_type_error(make):
    with pytest.raises(TypeError):
        make()


def test_sweep_over_one_step_is_a_clear_error():
    with pytest.raises(ValueError, match=r"sweep: .*total_steps=1"):
        Sweep().bind(1)


def test_error_messages_follow_the_house_shape():
    """``<Owner>: <expected>; got <name>=<value!r>. <How to fix>.``"""
    with pytest.raises(ValueError) as info:
        WarmupCosine(peak_lr=-3e-4, warmup=10)
    message = str(info.value)
    assert message.startswith("warmup_cosine: peak_lr must be")
    assert "; got peak_lr=-0.0003. " in message
    assert message.endswith(".")


# ---- the spec language ----


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown schedule name; got name='cosin'\. Valid names: ") as info:
        parse("cosin(peak_lr=1e-3)")
    for name in registry():
        assert name in str(info.value)


def test_unknown_key_lists_the_valid_keys():
    with pytest.raises(
        ValueError,
        match=r"cosine: unknown argument 'min_ratio'; got min_ratio=0\.1\. "
        r"Valid arguments: decay_steps, min_lr, min_lr_ratio, peak_lr\.",
    ):
        parse("cosine(peak_lr=1e-3, min_ratio=0.1)")


def test_unknown_key_in_a_dict():
    with pytest.raises(
        ValueError,
        match=r"wsd: unknown argument 'warmup_steps'; got warmup_steps=10\. Valid arguments: .*warmup",
    ):
        from_dict({"name": "wsd", "peak_lr": 1.0, "warmup_steps": 10, "decay": 5})


def test_missing_argument_names_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"step_decay: .*gamma.*Valid arguments: gamma, milestones, peak_lr, step_size"
    ):
        parse("step_decay(peak_lr=1.0)")


def test_validation_runs_behind_parse():
    with pytest.raises(ValueError, match=r"got gamma=2\.0"):
        parse("step_decay(peak_lr=1.0, gamma=2.0, step_size=3)")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("cosine(", r"not a schedule spec; got spec='cosine\('"),
        ("cosine(peak_lr=1e-3", r"not a schedule spec"),
        ("cosine", r"a spec is a call like .*; got spec='cosine'"),
        ("1 + 2", r"a spec is a call"),
        ("", r"not a schedule spec|a spec is a call"),
        ("cosine(peak_lr=1e-3); import os", r"not a schedule spec"),
        ("cosine(peak_lr=x)", r"values must be numbers, strings.*got 'x'"),
        ("cosine(peak_lr=1e-3 * 2)", r"got '0\.001 \* 2'"),
        ("cosine(peak_lr=-'a')", r"got \"-'a'\""),
        ("cosine(**{'peak_lr': 1})", r"'\*\*' is not allowed"),
        ("cosine(1e-3, 0, 0, 5, 6)", r"cosine takes at most 4 positional arguments"),
        ("a.b(peak_lr=1)", r"expected a schedule name before '\('; got 'a\.b'"),
        ("cosine(peak_lr=1e-3)(5)", r"expected a schedule name"),
        ("cosine(peak_lr=lambda: 1)", r"values must be"),
        ("cosine(peak_lr=[1, 2][0])", r"values must be"),
        ("cosine(peak_lr=1j)", r"values must be"),
        ("cosine(peak_lr={1: 2})", r"values must be"),
    ],
)
def test_malformed_spec_strings(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        parse(text)


@pytest.mark.parametrize("bad", [None, 3, b"cosine(peak_lr=1)", {"name": "cosine"}])
def test_parse_takes_only_strings(bad):
    with pytest.raises(TypeError, match=r"parse: a spec must be a string; got spec="):
        parse(bad)


@pytest.mark.parametrize(
    "template",
    [
        "__import__('pathlib').Path({path!r}).touch()",
        "cosine(peak_lr=__import__('pathlib').Path({path!r}).touch())",
        "cosine(peak_lr=open({path!r}, 'w'))",
        "sequence(pieces=[exec('open({path!r}, \"w\")')], lengths=[])",
    ],
)
def test_parse_never_evaluates(template, tmp_path):
    marker = tmp_path / "evaluated"
    with pytest.raises(ValueError):
        parse(template.format(path=str(marker)))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"peak_lr": 1.0}, r"expected a mapping with a 'name' key"),
        ([("name", "cosine")], r"expected a mapping with a 'name' key"),
        ({"name": "nope"}, r"got name='nope'\. Valid names: constant, cosine"),
        ({"name": "cosine", "peak_lr": "high"}, r"peak_lr"),
    ],
)
def test_bad_dicts(data, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        from_dict(data)

"""describe() lists the phases; events(start, stop) reports what happens in [start, stop)."""

from __future__ import annotations

import signal

import pytest

from lr_callbacks.schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    OneCycle,
    Sequence,
    StepDecay,
    Warmup,
    WarmupCosine,
    WarmupStableDecay,
)


def _rows(text):
    return [line.split() for line in text.splitlines()[1:]]


def test_describe_lists_every_phase_with_its_boundaries():
    text = WarmupStableDecay(peak_lr=1.0, warmup=100, decay=200, decay_shape="cosine").bind(1000).describe()
    lines = text.splitlines()
    assert "wsd(" in lines[0] and "1000 steps" in lines[0]
    assert "warmup" in lines[1] and "[0, 100)" in lines[1] and "linear" in lines[1] and "0 -> 1" in lines[1]
    assert "stable" in lines[2] and "[100, 800)" in lines[2] and "1 -> 1" in lines[2]
    assert "decay" in lines[3] and "[800, 1000)" in lines[3] and "cosine" in lines[3] and "1 -> 0" in lines[3]
    assert "end" in lines[4] and "[1000, end)" in lines[4]
    assert len(lines) == 5


def test_describe_restarts_has_one_line_per_cycle():
    text = CosineRestarts(peak_lr=1.0, cycle_steps=10, cycle_mult=2).bind(70).describe()
    for name, bounds in [("cycle 1", "[0, 10)"), ("cycle 2", "[10, 30)"), ("cycle 3", "[30, 70)")]:
        assert any(name in line and bounds in line for line in text.splitlines()), (name, text)


def test_describe_milestones():
    text = StepDecay(peak_lr=1.0, gamma=0.1, milestones=(30, 60)).bind(90).describe()
    assert "[0, 30)" in text and "[30, 60)" in text and "[60, end)" in text
    assert "0.1 -> 0.1" in text and "0.01 -> 0.01" in text


def test_describe_sequence_cuts_pieces_at_the_joins():
    text = Sequence((Constant(peak_lr=1.0), Cosine(peak_lr=1.0)), lengths=(2,)).bind(6).describe()
    assert "[0, 2)" in text.splitlines()[1]


def _kinds(events):
    return [(e.step, e.kind) for e in events]


def test_events_warmup_end():
    lr = WarmupCosine(peak_lr=1.0, warmup=10).bind(100)
    events = lr.events(0, 100)
    assert _kinds(events) == [(10, "warmup_end")]
    assert events[0].factor == pytest.approx(10 / 9)
    assert events[0].to_dict() == {
        "step": 10,
        "kind": "warmup_end",
        "description": "warmup ends",
        "factor": events[0].factor,
    }


def test_events_each_milestone_with_its_factor():
    events = StepDecay(peak_lr=1.0, gamma=0.1, milestones=(30, 60)).bind(90).events()
    assert _kinds(events) == [(30, "decay"), (60, "decay")]
    assert [e.factor for e in events] == pytest.approx([0.1, 0.1])
    assert all("x0.1" in e.description for e in events)


def test_events_each_staircase_step():
    lr = StepDecay(peak_lr=1.0, gamma=0.5, step_size=25).bind(100)
    events = lr.events(0, 100)
    assert _kinds(events) == [(25, "decay"), (50, "decay"), (75, "decay")]
    assert [e.factor for e in events] == [0.5, 0.5, 0.5]


def test_events_only_within_the_window():
    lr = StepDecay(peak_lr=1.0, gamma=0.5, step_size=25).bind(100)
    assert _kinds(lr.events(25, 75)) == [(25, "decay"), (50, "decay")]
    assert _kinds(lr.events(26, 50)) == []
    assert _kinds(lr.events(50, 51)) == [(50, "decay")]
    milestones = StepDecay(peak_lr=1.0, gamma=0.1, milestones=(30, 60)).bind(90)
    assert _kinds(milestones.events(30, 60)) == [(30, "decay")]
    assert _kinds(milestones.events(31, 90)) == [(60, "decay")]
    assert _kinds(milestones.events(0, 30)) == []


def test_events_wsd_decay_start():
    lr = WarmupStableDecay(peak_lr=1.0, warmup=100, decay=200).bind(1000)
    assert _kinds(lr.events(0, 1000)) == [(100, "warmup_end"), (800, "decay_start")]
    assert _kinds(lr.events(101, 1000)) == [(800, "decay_start")]


def test_events_each_restart_with_its_factor():
    lr = CosineRestarts(peak_lr=1.0, cycle_steps=4, cycle_decay=0.5).bind(12)
    events = lr.events(0, 12)
    assert _kinds(events) == [(4, "restart"), (8, "restart")]
    # LR of the restart step over the LR of the step before it: 0.5 / cos½(3/4), 0.25 / (0.5 cos½(3/4))
    assert events[0].factor == pytest.approx(0.5 / 0.14644660940672627)
    assert events[1].factor == pytest.approx(0.25 / (0.5 * 0.14644660940672627))


def test_events_of_a_warmup_wrapper_are_on_the_outer_clock():
    lr = Warmup(StepDecay(peak_lr=1.0, gamma=0.1, milestones=(30,)), warmup=10).bind(100)
    assert _kinds(lr.events(0, 100)) == [(10, "warmup_end"), (40, "decay")]


def test_events_default_window_is_the_run():
    lr = StepDecay(peak_lr=1.0, gamma=0.5, step_size=25).bind(100)
    assert _kinds(lr.events()) == [(25, "decay"), (50, "decay"), (75, "decay")]


def test_events_without_a_horizon_terminate():
    def timeout(signum, frame):
        raise TimeoutError("events() did not return within 2 s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(2)
    try:
        with pytest.raises(ValueError, match=r"got stop=None and total_steps=None"):
            StepDecay(peak_lr=1.0, gamma=0.5, step_size=3).bind().events(0)
        events = StepDecay(peak_lr=1.0, gamma=0.5, step_size=3).bind().events(0, 10)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [e.step for e in events] == [3, 6, 9]


def test_fractional_event_is_reported_in_the_window_of_its_step():
    lr = OneCycle(peak_lr=1.0, pct_start=0.35).bind(10)
    assert [e.step for e in lr.events(0, 3)] == []
    assert [e.step for e in lr.events(3, 10)] == [3]


def test_one_cycle_reports_its_peak():
    lr = OneCycle(peak_lr=1.0).bind(20)
    assert _kinds(lr.events()) == [(5, "peak")]

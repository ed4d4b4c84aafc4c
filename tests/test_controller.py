"""The controller every adapter drives, and the sync-free scalar queue, without any framework."""

from __future__ import annotations

import json
import math

import pytest

from lr_callbacks.controller import Controller, StopTraining, resolve_schedule
from lr_callbacks.deferred import DeferredScalars, check_loss
from lr_callbacks.diagnostics import NonFiniteRule
from lr_callbacks.schedules import Cosine, parse
from lr_callbacks.sinks import ListSink


def started(schedule: object = "cosine(peak_lr=0.1)", **kwargs: object) -> Controller:
    controller = Controller(schedule, rules=[NonFiniteRule()], sinks=[ListSink()], **kwargs)  # type: ignore[arg-type]
    controller.start(100, 10, [0.1, 0.01])
    return controller


def test_lrs_follow_the_schedule_and_keep_group_ratios() -> None:
    controller = started()
    schedule = Cosine(peak_lr=0.1).bind(total_steps=100)
    for t in (0, 37, 99):
        lrs = controller.lrs(t)
        assert lrs is not None
        assert lrs[0] == schedule(t)
        assert lrs[1] == schedule(t) * 0.01 / 0.1


def test_schedule_none_leaves_the_lr_alone() -> None:
    assert started(None).lrs(5) is None


def test_a_callable_schedule_is_used_as_is() -> None:
    assert started(lambda t: 0.5 / (1 + t)).lrs(1) == [0.25, 0.25 * 0.01 / 0.1]


def test_user_lengths_win_over_the_framework() -> None:
    controller = Controller("cosine(peak_lr=1.0)", total_steps=10)
    controller.start(1000, None, [1.0])
    assert controller.lrs(10) == [0.0]


def test_missing_total_steps_names_the_argument() -> None:
    controller = Controller("warmup_cosine(peak_lr=1.0, warmup=0.1)")
    with pytest.raises(ValueError, match=r"Pass LRCallback\(\.\.\., total_steps=N\)"):
        controller.start(None, None, [1.0])


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"schedule": 3}, TypeError, "schedule=3"),
        ({"schedule": "nope(peak_lr=1)"}, ValueError, "Valid names"),
        ({"total_steps": 0}, ValueError, "total_steps=0"),
        ({"steps_per_epoch": -2}, ValueError, "steps_per_epoch=-2"),
        ({"stop_on": ("no_such_rule",)}, ValueError, "no_such_rule"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], error: type[Exception], fragment: str) -> None:
    schedule = kwargs.pop("schedule", None)
    with pytest.raises(error, match=fragment):
        Controller(schedule, **kwargs)  # type: ignore[arg-type]


def test_group_zero_must_have_a_positive_lr() -> None:
    with pytest.raises(ValueError, match=r"base_lrs=\[0\.0, 0\.1\]"):
        Controller("constant(peak_lr=1.0)").start(None, None, [0.0, 0.1])


def test_nan_stops_and_the_stop_alert_is_known() -> None:
    controller = started()
    controller.observe(0, 1.0, [0.1])
    assert not controller.should_stop
    controller.observe(1, math.nan, [0.1])
    assert controller.should_stop
    alert = controller.stop_alert()
    assert alert is not None and alert.rule == "nonfinite" and alert.step == 1
    assert controller.stop_code()[1] == 1
    assert str(StopTraining(alert)).startswith("lr_callbacks stopped training")


def test_rank_zero_reports_another_ranks_stop_and_other_ranks_stay_silent() -> None:
    sink = ListSink()
    main = Controller("constant(peak_lr=1.0)", sinks=[sink])
    main.start(None, None, [1.0], rank=0, world_size=2)
    main.report_remote_stop(1, 1 + ["nonfinite"].index("nonfinite"), 7)
    assert [a.rule for a in sink.alerts] == ["nonfinite"]
    assert "rank 1" in sink.alerts[0].message
    other_sink = ListSink()
    other = Controller("constant(peak_lr=1.0)", sinks=[other_sink])
    other.start(None, None, [1.0], rank=1, world_size=2)
    other.observe(0, math.nan, [1.0])
    assert other.should_stop and other_sink.alerts == []


def test_state_round_trips_through_json_even_before_start() -> None:
    controller = started()
    for t in range(5):
        controller.observe(t, 1.0 / (t + 1), [0.1])
    controller.observe(5, math.inf, [0.1])
    state = json.loads(json.dumps(controller.state_dict(), allow_nan=False))
    restored = Controller("cosine(peak_lr=0.1)", rules=[NonFiniteRule()])
    restored.load_state_dict(state)  # before start, as Lightning does
    assert restored.state_dict() == state
    restored.start(100, 10, [0.1, 0.01])
    assert restored.should_stop
    assert [a.to_dict() for a in restored.alerts] == [a.to_dict() for a in controller.alerts]


def test_load_state_dict_rejects_missing_and_unknown_keys() -> None:
    controller = started()
    with pytest.raises(ValueError, match=r"missing=\['monitor'\]"):
        controller.load_state_dict({"version": 1})
    with pytest.raises(ValueError, match=r"unknown=\['extra'\]"):
        controller.load_state_dict({**controller.state_dict(), "extra": 1})
    with pytest.raises(ValueError, match="version=99"):
        controller.load_state_dict({**controller.state_dict(), "version": 99})


def test_resolve_schedule_accepts_specs_objects_and_callables() -> None:
    assert resolve_schedule("cosine(peak_lr=0.1)") == parse("cosine(peak_lr=0.1)")
    assert resolve_schedule(None) is None


def test_deferred_scalars_pass_numbers_through_in_order() -> None:
    queue = DeferredScalars(width=2)
    queue.push(0, (1.5, None), "a")
    queue.push(1, (2.5, 0.3), "b")
    assert queue.ready() == [(0, (1.5, None), "a"), (1, (2.5, 0.3), "b")]
    assert queue.ready() == []
    with pytest.raises(ValueError, match="expected 2 values"):
        queue.push(2, (1.0,))
    with pytest.raises(ValueError, match="capacity=1"):
        DeferredScalars(capacity=1)


@pytest.mark.parametrize("loss", [None, True, "1.0", {"loss": 1.0}])
def test_check_loss_refuses_what_is_not_a_loss(loss: object) -> None:
    with pytest.raises(TypeError, match="LRCallback: expected the loss"):
        check_loss(loss)


def test_a_second_start_is_a_fresh_diagnosis_unless_state_was_loaded() -> None:
    controller = started()
    controller.observe(0, math.nan, [0.1])
    state = controller.state_dict()
    controller.start(100, 10, [0.1, 0.01])  # e.g. a second trainer.train() with the same callback
    assert not controller.should_stop and controller.alerts == []
    controller.load_state_dict(state)  # a resume: loaded after start, into the running monitor
    assert controller.should_stop and [a.rule for a in controller.alerts] == ["nonfinite"]


def test_lengths_in_epochs_without_steps_per_epoch_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"Pass LRCallback\(\.\.\., steps_per_epoch=K\)"):
        Controller('step_decay(peak_lr=1.0, gamma=0.1, step_size="2ep")').start(100, None, [1.0])


@pytest.mark.parametrize(
    "spec",
    [
        "one_cycle(peak_lr=0.1)",
        "one_cycle(peak_lr=0.1, three_phase=true)",
        "wsd(peak_lr=0.1, warmup=0.1, decay=0.2)",
        "cosine_restarts(peak_lr=0.1, cycle_steps=10)",
        "step_decay(peak_lr=0.1, gamma=0.5, milestones=[30, 60])",
        "warmup_cosine(peak_lr=0.1, warmup=5)",
    ],
)
def test_every_schedule_s_events_reach_the_monitor(spec: str) -> None:
    controller = started(spec)
    assert controller.monitor is not None
    kinds = {e["kind"] for e in controller.monitor.context.events}
    assert kinds <= {"warmup_end", "decay", "decay_start", "restart"}


def test_lrs_computed_ahead_equal_the_schedule_at_every_update_in_any_order() -> None:
    controller = started("warmup_cosine(peak_lr=0.1, warmup=0.1)")
    schedule = parse("warmup_cosine(peak_lr=0.1, warmup=0.1)").bind(total_steps=100)
    for t in [*range(0, 700), 3, 1000, 999, 0, 37.5, 5.0]:  # several chunks, back and forth, fractional
        assert controller.lrs(t) == [schedule(t), schedule(t) * 0.01 / 0.1]  # type: ignore[arg-type]


def test_a_new_start_drops_the_lrs_computed_ahead() -> None:
    controller = started()
    before = controller.lrs(5)
    controller.start(100, 10, [0.2, 0.01])  # e.g. find_lr changed the peak, or the groups changed
    assert controller.lrs(5) == [before[0], before[0] * 0.01 / 0.2]  # type: ignore[index]
    controller.schedule = parse("constant(peak_lr=0.5)")
    controller.start(100, 10, [0.2, 0.01])
    assert controller.lrs(5) == [0.5, 0.5 * 0.01 / 0.2]


class LaterNaN:
    """A phase that turns bad at update 300 (no built-in schedule can: their arguments are validated)."""

    start, end, lr_start, lr_end = 0, math.inf, 0.1, 0.1

    def value(self, t: float) -> float:
        return 0.1 if t < 300 else math.nan


def test_an_lr_that_turns_bad_later_raises_at_that_update_only() -> None:
    from lr_callbacks.schedules import BoundSchedule

    controller = started()
    controller.bound = BoundSchedule([LaterNaN()])  # type: ignore[list-item]
    assert controller.lrs(299 - 255) == [0.1, 0.1 * 0.01 / 0.1]  # its chunk stops short of 300
    assert controller.lrs(299) == [0.1, 0.1 * 0.01 / 0.1]
    with pytest.raises(ValueError, match="finite LR >= 0; got lr=nan at step 300"):
        controller.lrs(300)

"""State: JSON round trips for every stateful class, strict key checks, exact resume."""

from __future__ import annotations

import json
import logging
import math
import random
from typing import Any

import pytest

from lr_callbacks.diagnostics import RULE_CLASSES, Monitor, RunContext, default_rules

EVENTS = [
    {"step": 200, "kind": "warmup_end", "description": "warmup over", "factor": None},
    {"step": 1500, "kind": "decay", "description": "step decay", "factor": 0.1},
]


def rich_stream(n: int = 3200) -> list[tuple[int, float, float, float | None]]:
    """(step, loss, lr, val_loss) with warmup, a stuck start, a bad batch, a decay followed by a spike,
    a noisy stretch, a NaN, a late explosion and a rising validation loss: every rule
    has something to say, and resuming in the middle of each must not change a word."""
    rng = random.Random(7)
    rows = []
    for t in range(n):
        lr = 1e-3 * min(1.0, (t + 1) / 200) * (0.1 if t >= 1500 else 1.0)
        sigma = 0.8 if 2000 <= t < 2400 else (0.03 if t < 600 else 0.1)
        progress = max(t - 600, 0)  # stuck for 600 steps: slow progress, then a plateau
        loss = 2.3 * (1 + progress / 10) ** -0.15 * math.exp(rng.gauss(0, sigma))
        loss *= {700: 25.0, 1510: 12.0}.get(t, 1.0) * (1.02 ** (t - 2900) if t > 2900 else 1.0)
        loss = math.nan if t == 2600 else loss
        val = (1.0 - t / 10000 if t < 1200 else 0.88 + (t - 1200) / 800) if t % 100 == 99 else None
        rows.append((t, loss, lr, val))
    return rows


def run(monitor: Monitor, rows: list[tuple[int, float, float, float | None]]) -> None:
    for step, loss, lr, val in rows:
        monitor.observe(step, loss, [lr], grad_norm=1.0, batch_index=step % 64)
        if val is not None:
            monitor.observe_eval(step, {"val_loss": val})


def fresh() -> Monitor:
    monitor = Monitor(stop_on=())
    monitor.add_events(EVENTS)
    return monitor


@pytest.fixture(autouse=True)
def _quiet_alert_log():
    logging.getLogger("lr_callbacks.alerts").disabled = True
    yield
    logging.getLogger("lr_callbacks.alerts").disabled = False


@pytest.fixture(scope="module")
def uninterrupted() -> list[dict[str, Any]]:
    monitor = fresh()
    run(monitor, rich_stream())
    return [a.to_dict() for a in monitor.alerts]


def test_the_stream_exercises_every_rule(uninterrupted):
    assert {a["rule"] for a in uninterrupted} == set(RULE_CLASSES)


CHECKPOINTS = [0, 1, 63, 64, 199, 200, 399, 450, 500, 700, 701, 703, 1499, 1500, 1505, 1510, 1512,
               2099, 2300, 2599, 2600, 2601, 2950, 3100]  # fmt: skip


@pytest.mark.parametrize("stop_after", CHECKPOINTS)
def test_resume_at_any_step_gives_the_uninterrupted_alerts(uninterrupted, stop_after):
    rows = rich_stream()
    first = fresh()
    run(first, rows[: stop_after + 1])
    state = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    resumed = fresh()  # the controller re-adds the schedule's events: they are deduplicated
    resumed.load_state_dict(state)
    run(resumed, rows[stop_after + 1 :])
    assert [a.to_dict() for a in resumed.alerts] == uninterrupted


def _fed_state(obj: Any) -> dict[str, Any]:
    monitor = Monitor(rules=[obj], stop_on=()) if hasattr(obj, "update") else None
    if monitor is not None:
        monitor.add_events(EVENTS)
        run(monitor, rich_stream()[:2700])
    return obj.state_dict()


@pytest.mark.parametrize("name", list(RULE_CLASSES))
def test_rule_state_round_trips_through_json(name):
    rule = RULE_CLASSES[name]()
    state = _fed_state(rule)
    text = json.dumps(state, allow_nan=False)  # strict JSON: no NaN/Inf anywhere
    other = RULE_CLASSES[name]()
    other.load_state_dict(json.loads(text))
    assert other.state_dict() == state and state["version"] == 1


def test_context_and_monitor_round_trip_through_json():
    monitor = fresh()
    run(monitor, rich_stream()[:2700])
    state = json.loads(json.dumps(monitor.state_dict(), allow_nan=False))
    again = fresh()
    again.load_state_dict(state)
    assert again.state_dict() == state
    context = RunContext()
    context.load_state_dict(state["context"])
    assert context.state_dict() == state["context"]
    assert [e["kind"] for e in context.events] == ["warmup_end", "decay"]


def _owners() -> list[tuple[str, Any]]:
    return [(name, lambda name=name: RULE_CLASSES[name]()) for name in RULE_CLASSES] + [
        ("RunContext", RunContext),
        ("Monitor", Monitor),
    ]


@pytest.mark.parametrize(("owner", "make"), _owners())
def test_load_state_dict_names_unknown_and_missing_keys(owner, make):
    state = make().state_dict()
    with pytest.raises(ValueError, match=r"unknown=\['surplus'\]"):
        make().load_state_dict({**state, "surplus": 1})
    dropped = next(k for k in state if k != "version")
    with pytest.raises(ValueError, match=rf"missing=\['{dropped}'\]"):
        make().load_state_dict({k: v for k, v in state.items() if k != dropped})
    with pytest.raises(ValueError, match=r"expected version=1; got version=99"):
        make().load_state_dict({**state, "version": 99})


def test_monitor_refuses_state_of_other_rules():
    state = Monitor().state_dict()
    with pytest.raises(ValueError, match=r"state holds rules .*this Monitor runs \['spike'\]"):
        Monitor(rules=[RULE_CLASSES["spike"]()]).load_state_dict(state)


def test_default_rules_are_fresh_instances():
    assert default_rules()[0] is not default_rules()[0]

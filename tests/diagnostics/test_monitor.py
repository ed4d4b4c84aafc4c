"""Monitor: dispatch, stop policy, logging contract, sinks, context events, Alert JSON."""

from __future__ import annotations

import json
import logging
import math

import pytest

from lr_callbacks.diagnostics import Alert, Monitor, RunContext, Severity, SpikeRule
from lr_callbacks.sinks import (
    CallableSink,
    FanoutSink,
    JsonlSink,
    ListSink,
    LoggingSink,
    LRDiagnosticWarning,
    WarningsSink,
)


def _nan_run(monitor: Monitor) -> None:
    for step, loss in enumerate([2.3, 2.2, math.nan, math.nan, 2.1]):
        monitor.observe(step, loss, [1e-3])


# ------------------------------------------------------------------ stop policy
def test_default_stops_on_nonfinite_only():
    monitor = Monitor()
    _nan_run(monitor)
    assert [(a.rule, a.step) for a in monitor.alerts] == [("nonfinite", 2)] and monitor.should_stop


def test_stop_on_nothing_keeps_going():
    monitor = Monitor(stop_on=())
    _nan_run(monitor)
    assert monitor.alerts and not monitor.should_stop


def test_stop_on_a_severity_means_that_severity_or_above():
    monitor = Monitor(stop_on=("error",))
    for step in range(30):
        monitor.observe(step, 2.3 * 1.5**step, 0.3)
    assert monitor.should_stop and monitor.alerts[0].severity is Severity.ERROR
    calm = Monitor(stop_on=("critical",))
    calm.observe(0, 2.3)
    calm.report(Alert("spike", "warning", 1, "jump"))
    assert not calm.should_stop


def test_report_records_and_applies_the_policy():
    monitor, kept = Monitor(sinks=[ListSink()]), None
    kept = monitor._sink.sinks[-1]
    monitor.report(Alert("nonfinite", "critical", 9, "rank 1 saw NaN"))
    assert monitor.should_stop and [a.step for a in kept.alerts] == [9]
    with pytest.raises(TypeError, match="expected an Alert"):
        monitor.report({"rule": "x"})


def test_nonfinite_steps_do_not_reach_statistical_rules():
    monitor = Monitor(rules=[SpikeRule()], stop_on=())
    for step in range(200):
        monitor.observe(step, math.nan if step % 3 == 0 else 2.0 + 0.01 * (step % 5))
    spike = monitor.rules[0]
    assert monitor.alerts == [] and math.isfinite(spike.state_dict()["sum"])
    assert monitor.context.num_obs == 133


def test_lrs_may_be_a_float_a_list_or_none():
    for lrs in (1e-3, [1e-3, 2e-3], (1e-3,), None):
        monitor = Monitor()
        monitor.observe(0, 2.3, lrs)
        assert monitor.context.lr == (None if lrs is None else 1e-3)


# ---------------------------------------------------------------- logging contract
def test_every_alert_is_logged_with_the_alert_attached(caplog):
    with caplog.at_level(logging.INFO, logger="lr_callbacks.alerts"):
        monitor = Monitor()
        _nan_run(monitor)
    (record,) = [r for r in caplog.records if r.name == "lr_callbacks.alerts"]
    assert record.alert is monitor.alerts[0] and record.levelno == logging.CRITICAL
    assert "[step 2] nonfinite (critical)" in record.getMessage()


def test_log_false_keeps_the_logger_silent(caplog):
    with caplog.at_level(logging.INFO, logger="lr_callbacks.alerts"):
        _nan_run(Monitor(log=False))
    assert [r for r in caplog.records if r.name == "lr_callbacks.alerts"] == []


@pytest.mark.parametrize(
    ("severity", "level"),
    [("info", logging.WARNING), ("warning", logging.WARNING), ("error", logging.ERROR),
     ("critical", logging.CRITICAL)],
)  # fmt: skip
def test_log_level_by_severity_warning_or_above(caplog, severity, level):
    with caplog.at_level(logging.INFO, logger="lr_callbacks.alerts"):
        LoggingSink().emit(Alert("spike", severity, 3, "seen"))
    assert caplog.records[-1].levelno == level and caplog.records[-1].alert.severity == severity


# ------------------------------------------------------------------------ sinks
def test_a_raising_sink_is_reported_once_and_the_others_go_on(caplog):
    calls = []

    def broken(alert: Alert) -> None:
        calls.append(alert.step)
        raise RuntimeError("webhook down")

    kept = ListSink()
    monitor = Monitor(sinks=[CallableSink(broken), kept], stop_on=())
    with caplog.at_level(logging.ERROR, logger="lr_callbacks"):
        for step in range(6):
            monitor.observe(step, math.nan if step % 2 else 2.0)
    failures = [r for r in caplog.records if "failed in emit" in r.getMessage()]
    assert len(failures) == 1 and "webhook down" in failures[0].getMessage()
    assert calls == [1, 3, 5] and [a.step for a in kept.alerts] == [1, 3, 5]


def test_a_sink_failing_on_close_does_not_stop_the_others(caplog):
    class BadClose(ListSink):
        def close(self) -> None:
            raise OSError("gone")

    closed = []
    good = CallableSink(lambda a: None)
    good.close = lambda: closed.append(True)  # type: ignore[method-assign]
    fan = FanoutSink([BadClose(), good])
    with caplog.at_level(logging.ERROR, logger="lr_callbacks"):
        fan.close()
    assert closed == [True] and "failed in close" in caplog.records[-1].getMessage()


def test_jsonl_sink_flushes_each_line(tmp_path):
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.emit(Alert("spike", "info", 5, "a", evidence={"z": 9.5}))
    first = path.read_text().splitlines()  # read while the sink is still open
    sink.emit(Alert("nonfinite", "critical", 6, "b", evidence={"loss": math.nan}))
    lines = path.read_text().splitlines()
    sink.close()
    assert len(first) == 1 and len(lines) == 2
    assert json.loads(lines[1])["evidence"] == {"loss": "nan"}
    JsonlSink(path).emit(Alert("spike", "info", 7, "c"))  # append mode
    assert len(path.read_text().splitlines()) == 3


def test_warnings_sink_puts_the_step_in_the_text():
    with pytest.warns(LRDiagnosticWarning, match=r"\[step 12\] spike \(warning\)"):
        WarningsSink().emit(Alert("spike", "warning", 12, "jump"))


def test_monitor_close_closes_sinks(tmp_path):
    path = tmp_path / "a.jsonl"
    sink = JsonlSink(path)
    monitor = Monitor(sinks=[sink])
    _nan_run(monitor)
    monitor.close()
    assert sink._file is None and len(path.read_text().splitlines()) == 1


# ------------------------------------------------------------------------ alerts
def test_alert_json_round_trip():
    alert = Alert(
        "spike", Severity.INFO, 3012, "loss 4.1", "LR step decay at step 3000, x0.1, 12 steps "
        "earlier", "nothing to do", {"z": 9.5, "batch_index": 17, "note": "x", "loss": math.inf},
    )  # fmt: skip
    text = json.dumps(alert.to_dict(), allow_nan=False)
    back = Alert.from_dict(json.loads(text))
    assert back == alert and back.severity is Severity.INFO and back.evidence["loss"] == "inf"
    assert sorted(alert.to_dict()) == sorted(
        ["rule", "severity", "step", "message", "cause", "advice", "evidence"]
    )


def test_severities_order_and_serialise():
    assert sorted(Severity, key=lambda s: s.rank) == [
        Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL,
    ]  # fmt: skip
    assert Severity.WARNING < Severity.ERROR and json.dumps(Severity.ERROR.value) == '"error"'


# ---------------------------------------------------------------- context events
def _context(lrs: list[float], events: list[dict] | None = None) -> RunContext:
    context = RunContext()
    context.add_events(events or [])
    for step, lr in enumerate(lrs):
        context.advance(step, lr, 0.5)
    return context


def test_lr_changes_over_1_5x_are_derived_both_ways():
    context = _context([1e-3] * 10 + [1.4e-3] * 10 + [1e-4] * 10 + [1e-3] * 10)
    changes = [(e["step"], round(e["factor"], 3)) for e in context.events]
    assert changes == [(20, 0.071), (30, 10.0)]
    assert context.last_event_step == 30 and context.num_decays == 1


def test_warmup_end_is_derived_from_a_rising_lr():
    context = _context([1e-3 * min(1.0, (t + 1) / 100) for t in range(300)])
    assert context.warmup_end == 99 and [e["kind"] for e in context.events] == ["warmup_end"]
    assert not _context([1e-3 * (t + 1) for t in range(50)]).warmed_up(49)


def test_no_warmup_means_warmed_up_at_once():
    assert _context([1e-3] * 5).warmed_up(1) and RunContext().warmed_up(0)


def test_named_events_explain_the_change_and_are_deduplicated():
    decay = {"step": 20, "kind": "decay", "description": "milestone", "factor": 0.1}
    context = _context([1e-3] * 20 + [1e-4] * 10, [decay, dict(decay)])
    assert [e["kind"] for e in context.events] == ["decay"]
    assert context.last_event == {**decay}


def test_named_warmup_end_wins_over_the_derived_one():
    named = {"step": 150, "kind": "warmup_end", "description": "", "factor": None}
    context = _context([1e-3 * min(1.0, (t + 1) / 100) for t in range(300)], [named])
    assert context.warmup_end == 150 and len(context.events) == 1


def test_monitor_dispatch_matches_feeding_each_rule_alone(streams):
    import random

    from lr_callbacks.diagnostics import RULE_CLASSES

    rng = random.Random(5)
    flat = [2.3 * math.exp(rng.gauss(0, 0.03)) for _ in range(600)]
    losses = flat + [x * (20.0 if t == 900 else 1.0) for t, x in enumerate(streams.healthy(2400))]
    lrs = [1e-3] * len(losses)
    monitor = Monitor(stop_on=(), log=False)
    for step, loss in enumerate(losses):
        monitor.observe(step, loss, [lrs[step]], batch_index=step % 100)
    alone = sorted(
        (a.step, a.rule) for cls in RULE_CLASSES.values() for a in streams.feed(cls(), losses, lrs)
    )
    assert sorted((a.step, a.rule) for a in monitor.alerts) == alone
    assert {rule for _, rule in alone} >= {"slow_progress", "plateau", "spike"}

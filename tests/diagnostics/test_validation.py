"""Every validated constructor argument raises with the argument's name, value and a fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lr_callbacks.diagnostics import (
    Alert,
    DivergenceRule,
    Monitor,
    NonFiniteRule,
    OscillationRule,
    OverfittingRule,
    PlateauRule,
    SlowProgressRule,
    SpikeRule,
)
from lr_callbacks.diagnostics.events import check_event
from lr_callbacks.sinks import CallableSink, FanoutSink, JsonlSink

VALUE_ERRORS: list[tuple[Callable[[], Any], str]] = [
    (lambda: DivergenceRule(ratio=1.0), r"DivergenceRule: ratio must be .*; got ratio=1\.0\. Pass"),
    (lambda: DivergenceRule(critical_ratio=1.2), r"critical_ratio must be .*> 1\.5.*got critical_ratio=1\.2"),
    (lambda: DivergenceRule(rearm_ratio=2.0), r"rearm_ratio must be .*\(1, 1\.5\).*got rearm_ratio=2\.0"),
    (lambda: DivergenceRule(event_grace_steps=-1), r"event_grace_steps must be an int >= 0; got event_grace_steps=-1"),
    (lambda: DivergenceRule(min_steps=0), r"min_steps must be an int >= 1; got min_steps=0"),
    (lambda: SpikeRule(window=4), r"SpikeRule: window must be an int >= 8; got window=4\. Pass"),
    (lambda: SpikeRule(min_history=1), r"min_history must be an int >= 2; got min_history=1"),
    (lambda: SpikeRule(min_history=200), r"min_history must be <= window=128; got min_history=200\. Lower"),
    (lambda: SpikeRule(z_threshold=0), r"z_threshold must be .*> 0; got z_threshold=0"),
    (lambda: SpikeRule(min_ratio=1.0), r"min_ratio must be .*> 1; got min_ratio=1\.0"),
    (lambda: SpikeRule(event_window=-1), r"event_window must be an int >= 0; got event_window=-1"),
    (lambda: SpikeRule(recovery_steps=0), r"recovery_steps must be an int >= 1; got recovery_steps=0"),
    (lambda: SpikeRule(persist_steps=0), r"persist_steps must be an int >= 1; got persist_steps=0"),
    (lambda: SpikeRule(cooldown_steps=0), r"cooldown_steps must be an int >= 1; got cooldown_steps=0"),
    (lambda: SpikeRule(event_jump_ratio=0.9), r"event_jump_ratio must be .*> 1; got event_jump_ratio=0\.9"),
    (lambda: OscillationRule(window=4), r"OscillationRule: window must be an int >= 8; got window=4"),
    (lambda: OscillationRule(max_residual_std=0), r"max_residual_std must be .*> 0; got max_residual_std=0"),
    (lambda: OscillationRule(growth_ratio=1.0), r"growth_ratio must be .*> 1; got growth_ratio=1\.0"),
    (lambda: OscillationRule(consecutive=0), r"consecutive must be an int >= 1; got consecutive=0"),
    (lambda: OscillationRule(min_history=-1), r"min_history must be an int >= 0; got min_history=-1"),
    (lambda: OscillationRule(event_grace_steps=-5), r"event_grace_steps must be an int >= 0; got event_grace_steps=-5"),
    (lambda: OscillationRule(cooldown_windows=0), r"cooldown_windows must be an int >= 1; got cooldown_windows=0"),
    (lambda: OscillationRule(min_level_fraction=1.0), r"min_level_fraction must be .*\(0, 1\); got min_level_fraction=1\.0"),
    (lambda: SlowProgressRule(min_steps=0), r"SlowProgressRule: min_steps must be an int >= 1; got min_steps=0"),
    (lambda: SlowProgressRule(min_drop=0.0), r"min_drop must be .*\(0, 1\); got min_drop=0\.0"),
    (lambda: SlowProgressRule(drop_per_doubling=1.0), r"drop_per_doubling must be .*; got drop_per_doubling=1\.0"),
    (lambda: SlowProgressRule(enough_drop=0.01), r"enough_drop must be .*\(0\.05, 1\); got enough_drop=0\.01"),
    (lambda: SlowProgressRule(min_lr_fraction=1.5), r"min_lr_fraction must be .*; got min_lr_fraction=1\.5"),
    (lambda: SlowProgressRule(reference_steps=0), r"reference_steps must be an int >= 1; got reference_steps=0"),
    (lambda: SlowProgressRule(check_every=0), r"check_every must be an int >= 1; got check_every=0"),
    (lambda: PlateauRule(patience=0), r"PlateauRule: patience must be an int >= 1; got patience=0"),
    (lambda: PlateauRule(patience_fraction=0.0), r"patience_fraction must be .*; got patience_fraction=0\.0"),
    (lambda: PlateauRule(min_delta=1.0), r"min_delta must be .*\(0, 1\); got min_delta=1\.0"),
    (lambda: PlateauRule(min_lr_fraction=0.0), r"min_lr_fraction must be .*; got min_lr_fraction=0\.0"),
    (lambda: PlateauRule(min_history=-1), r"min_history must be an int >= 0; got min_history=-1"),
    (lambda: PlateauRule(check_every=0), r"check_every must be an int >= 1; got check_every=0"),
    (lambda: OverfittingRule(patience=0), r"OverfittingRule: patience must be an int >= 1; got patience=0"),
    (lambda: OverfittingRule(min_rise=0.0), r"min_rise must be .*> 0; got min_rise=0\.0"),
    (lambda: OverfittingRule(min_train_drop=1.0), r"min_train_drop must be .*; got min_train_drop=1\.0"),
    (lambda: Monitor(total_steps=0), r"Monitor: total_steps must be an int >= 1; got total_steps=0"),
    (lambda: Monitor(stop_on=("nan",)), r"Monitor: stop_on entries must be rule names .*; got stop_on entry 'nan'\. Fix"),
    (lambda: Monitor(rules=[SpikeRule(), SpikeRule()]), r"Monitor: rule names must be unique; got rules named \['spike'\]"),
    (lambda: Alert("spike", "fatal", 1, "m"), r"Alert: severity must be one of .*; got severity='fatal'\. Use"),
    (lambda: Alert.from_dict({"rule": "spike"}), r"Alert.from_dict: expected keys .*missing=\['severity'"),
    (lambda: check_event({"step": 3, "kind": "boom"}), r"event kind must be one of .*; got kind='boom'"),
    (lambda: check_event({"step": -3, "kind": "decay"}), r"event step must be an int >= 0; got step=-3"),
    (lambda: check_event({"step": 3, "kind": "decay", "factor": float("inf")}), r"got factor=inf"),
    (lambda: check_event({"kind": "decay"}), r"an event needs keys 'step' and 'kind'"),
    (lambda: check_event({"step": 1, "kind": "decay", "when": 2}), r"an event needs keys .*'when'"),
]  # fmt: skip

TYPE_ERRORS: list[tuple[Callable[[], Any], str]] = [
    (lambda: NonFiniteRule(check_grad_norm=1), r"NonFiniteRule: check_grad_norm must be True or False; got check_grad_norm=1"),
    (lambda: SpikeRule(window=12.5), r"SpikeRule: window must be an int; got window=12\.5"),
    (lambda: DivergenceRule(ratio="2"), r"DivergenceRule: ratio must be a number; got ratio='2'"),
    (lambda: Monitor(stop_on="nonfinite"), r"Monitor: stop_on must be a list of names; got stop_on='nonfinite'"),
    (lambda: Monitor(rules=[object()]), r"Monitor: each rule needs name, update"),
    (lambda: Monitor(log="yes"), r"Monitor: log must be True or False; got log='yes'"),
    (lambda: Alert("spike", "info", "3", "m"), r"Alert: step must be an int; got step='3'"),
    (lambda: Alert("spike", "info", 3, "m", evidence={"x": [1]}), r"evidence values must be int, float or str; got x=\[1\]"),
    (lambda: JsonlSink(3), r"JsonlSink: path must be a str or path; got path=3"),
    (lambda: CallableSink(3), r"CallableSink: fn must be callable; got fn=3"),
    (lambda: FanoutSink([object()]), r"FanoutSink: each sink needs an emit\(alert\) method"),
    (lambda: check_event([1, 2]), r"each event must be a dict"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "match"), VALUE_ERRORS)
def test_bad_values_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(("make", "match"), TYPE_ERRORS)
def test_bad_types_raise_type_error(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_observe_eval_without_a_loss_names_the_keys():
    with pytest.raises(ValueError, match=r"metrics must hold 'val_loss' or 'loss'; got .*\['acc'\]"):
        Monitor().observe_eval(10, {"acc": 0.5})

"""The built-in rules, by public name."""

from __future__ import annotations

from lr_callbacks.diagnostics.base import Rule
from lr_callbacks.diagnostics.divergence import DivergenceRule
from lr_callbacks.diagnostics.nonfinite import NonFiniteRule
from lr_callbacks.diagnostics.oscillation import OscillationRule
from lr_callbacks.diagnostics.overfitting import OverfittingRule
from lr_callbacks.diagnostics.plateau import PlateauRule
from lr_callbacks.diagnostics.slow_progress import SlowProgressRule
from lr_callbacks.diagnostics.spike import SpikeRule

RULE_CLASSES: dict[str, type[Rule]] = {
    cls.name: cls
    for cls in (
        NonFiniteRule, DivergenceRule, SlowProgressRule, PlateauRule, OscillationRule,
        OverfittingRule, SpikeRule,
    )
}  # fmt: skip
RULE_NAMES = tuple(RULE_CLASSES)


def default_rules() -> list[Rule]:
    """One instance of every built-in rule, with its calibrated defaults.

    Example:
        >>> [rule.name for rule in default_rules()]
        ['nonfinite', 'divergence', 'slow_progress', 'plateau', 'oscillation', 'overfitting', 'spike']
    """
    return [cls() for cls in RULE_CLASSES.values()]

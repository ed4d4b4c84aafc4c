"""Framework-free diagnostics: the guide's loss patterns as streaming rules.

`Monitor` runs the rules on each optimizer step; each rule emits `Alert`s that say
what was seen, the likely cause (naming a schedule event when one explains it) and
the remedy. Imports nothing outside the standard library.
"""

from lr_callbacks.diagnostics.alert import Alert, Severity
from lr_callbacks.diagnostics.base import RateLimiter, Rule, RuleProtocol
from lr_callbacks.diagnostics.context import Observation, RunContext
from lr_callbacks.diagnostics.divergence import DivergenceRule
from lr_callbacks.diagnostics.events import EVENT_KINDS, make_event
from lr_callbacks.diagnostics.monitor import Monitor
from lr_callbacks.diagnostics.nonfinite import NonFiniteRule
from lr_callbacks.diagnostics.oscillation import OscillationRule
from lr_callbacks.diagnostics.overfitting import OverfittingRule
from lr_callbacks.diagnostics.plateau import PlateauRule
from lr_callbacks.diagnostics.rules import RULE_CLASSES, RULE_NAMES, default_rules
from lr_callbacks.diagnostics.slow_progress import SlowProgressRule
from lr_callbacks.diagnostics.spike import SpikeRule

__all__ = [
    "EVENT_KINDS",
    "RULE_CLASSES",
    "RULE_NAMES",
    "Alert",
    "DivergenceRule",
    "Monitor",
    "NonFiniteRule",
    "Observation",
    "OscillationRule",
    "OverfittingRule",
    "PlateauRule",
    "RateLimiter",
    "Rule",
    "RuleProtocol",
    "RunContext",
    "Severity",
    "SlowProgressRule",
    "SpikeRule",
    "default_rules",
    "make_event",
]

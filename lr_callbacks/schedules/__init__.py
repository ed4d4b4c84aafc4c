"""Schedules: pure, closed-form learning-rate curves, composable and serialisable.

Every built-in is a frozen spec; ``bind(total_steps, steps_per_epoch)`` resolves its
lengths once and returns the ``t -> lr`` function. ``parse`` reads spec strings,
``from_dict`` reads dicts; ``lint`` warns about foot-guns.
"""

from .base import Schedule
from .bound import BoundSchedule
from .compose import Sequence
from .families import Constant, Cosine, CosineRestarts, StepDecay
from .legs import Exponential, InverseSqrt, Linear, Polynomial, Sweep
from .lengths import Horizon, Length
from .lints import Lint, lint
from .one_cycle import OneCycle, OneCycleMomentum
from .phases import Phase, ScheduleEvent
from .spec import format_spec, from_dict, parse, registry
from .warmup import Warmup, WarmupCosine, WarmupStableDecay

__all__ = [
    "BoundSchedule",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Exponential",
    "Horizon",
    "InverseSqrt",
    "Length",
    "Linear",
    "Lint",
    "OneCycle",
    "OneCycleMomentum",
    "Phase",
    "Polynomial",
    "Schedule",
    "ScheduleEvent",
    "Sequence",
    "StepDecay",
    "Sweep",
    "Warmup",
    "WarmupCosine",
    "WarmupStableDecay",
    "format_spec",
    "from_dict",
    "lint",
    "parse",
    "registry",
]

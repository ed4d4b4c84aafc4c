"""Composition: schedules joined end to end, each on its own local clock."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from .base import Schedule, check_fits
from .lengths import Horizon, Length, check_length
from .phases import Phase

Piece = Schedule | Callable[[float], float]

#: Largest relative jump at a join that still counts as continuous.
JOIN_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Sequence(Schedule):
    """Pieces run one after another; each sees ``t`` from its own start (optax ``join_schedules``).

    ``lengths`` gives the length of every piece but the last, which runs to the end.
    A piece is a schedule spec or any ``t -> lr`` callable (not serialisable). At
    each join the LR must be continuous (within ``1e-6`` of the peak) unless
    ``allow_jump=True``: torch's ``SequentialLR`` silently jumps there.

    Example:
        >>> from lr_callbacks.schedules import Constant, Cosine
        >>> lr = Sequence((Constant(peak_lr=1.0), Cosine(peak_lr=1.0)), lengths=(2,)).bind(total_steps=6)
        >>> [round(lr(t), 3) for t in range(7)]
        [1.0, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0]
    """

    name: ClassVar[str] = "sequence"
    pieces: tuple[Piece, ...]
    lengths: tuple[Length, ...]
    allow_jump: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "pieces", tuple(self.pieces))
        object.__setattr__(self, "lengths", tuple(self.lengths))
        if len(self.pieces) < 1 or len(self.lengths) != len(self.pieces) - 1:
            raise ValueError(
                f"sequence: give one length per piece except the last; got {len(self.pieces)} pieces and "
                f"lengths={list(self.lengths)!r}. The last piece runs to the end of training."
            )
        for piece in self.pieces:
            if not (isinstance(piece, Schedule) or callable(piece)):
                raise TypeError(
                    f"sequence: each piece must be a schedule or a callable t -> lr; got {piece!r}."
                )
        for length in self.lengths:
            check_length("sequence", "lengths", length)

    @property
    def peak_lr(self) -> float:  # type: ignore[override]
        return (
            max(p.peak_lr for p in self.pieces if isinstance(p, Schedule))
            if any(isinstance(p, Schedule) for p in self.pieces)
            else 1.0
        )

    def _phases(self, horizon: Horizon) -> list[Phase]:
        steps = [horizon.resolve("sequence", "lengths", length) for length in self.lengths]
        rest = None
        if horizon.total_steps is not None:
            check_fits("sequence", "sum(lengths)", sum(steps), horizon.total_steps)
            rest = horizon.total_steps - sum(steps)
        phases: list[Phase] = []
        offset = 0
        for index, (piece, length) in enumerate(zip(self.pieces, [*steps, rest], strict=True)):
            if length == 0:  # a piece given no steps never runs
                continue
            local = _piece_phases(piece, Horizon(length, horizon.steps_per_epoch))
            if phases and not self.allow_jump:
                _check_join(index, offset, phases, local)
            phases.extend(p.shifted(offset) for p in local if length is None or p.start < length)
            offset += length or 0  # None: the open-ended last piece of an unbound sequence
        return phases


def _piece_phases(piece: Piece, horizon: Horizon) -> list[Phase]:
    if isinstance(piece, Schedule):
        return piece._phases(horizon)
    end = float(horizon.total_steps) if horizon.total_steps else math.inf
    return [Phase(getattr(piece, "__name__", "callable"), 0, end, "callable", 0.0, 0.0, fn=piece)]


def _check_join(index: int, offset: int, before: list[Phase], after: list[Phase]) -> None:
    from .bound import BoundSchedule
    from .phases import with_hold

    left = BoundSchedule(with_hold(before))(offset)
    right = BoundSchedule(with_hold(after))(0)
    scale = max(abs(left), abs(right), 1e-300)
    if abs(left - right) > JOIN_TOLERANCE * scale:
        raise ValueError(
            f"sequence: the LR jumps at the join before piece {index} (step {offset}): {left:.6g} -> {right:.6g}; "
            f"got allow_jump=False. Make the pieces meet (e.g. the same peak_lr / floor), or pass "
            f"allow_jump=True if the jump is intended."
        )

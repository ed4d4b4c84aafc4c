"""Reading device scalars (the loss, the grad norm) on the host without blocking the device.

``float(loss)`` on a CUDA tensor waits for the GPU to finish the step. Instead each
value is copied into a slot of a pinned host buffer with ``non_blocking=True`` and a
CUDA event is recorded after the copy; a later step reads the slots whose event has
completed (normally one step later). Host (CPU) values land at once. Nothing here
calls ``.item()``, ``float()``, ``bool()``, ``.tolist()``, ``.cpu()`` or ``.numpy()`` on
the caller's tensors. torch is imported only when the first tensor arrives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

Landed = tuple[int, tuple[float | None, ...], Any]


class DeferredScalars:
    """A queue of ``(step, scalars)`` whose values are read once they have landed on the host.

    Args:
        width: scalars per step (e.g. 2 for loss and grad norm; ``None`` entries allowed).
        capacity: slots in the pinned ring buffer; if the device falls this many steps
            behind, ``push`` waits for the oldest copy (a sync only in that case).
    """

    def __init__(self, width: int = 1, capacity: int = 1024):
        for name, value, low in (("width", width, 1), ("capacity", capacity, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"DeferredScalars: {name} must be an int >= {low}; got {name}={value!r}.")
        self.width, self.capacity = width, capacity
        self._pending: deque[tuple[int, int, Any, tuple[Any, ...], Any]] = deque()
        self._buffer: Any = None
        self._values: Any = None
        self._views: list[list[Any]] = []
        self._next = 0
        self._ready: list[Landed] = []

    def push(self, step: int, values: Sequence[Any], extra: Any = None) -> None:
        """Queue the scalars of ``step``: tensors (0-d or one element), numbers, or ``None``."""
        if len(values) != self.width:
            raise ValueError(f"DeferredScalars: expected {self.width} values per step; got {len(values)}.")
        first = None
        for value in values:
            if value is not None and not isinstance(value, (int, float)):
                _check_scalar(value)
                first = value if first is None else first
        if first is None:
            self._ready.append((step, tuple(None if v is None else float(v) for v in values), extra))
            return
        if len(self._pending) >= self.capacity:
            self._pending[0][2].synchronize()
            self._collect()
        slot = self._next % self.capacity
        self._next += 1
        cells = self._cells(first)[slot]
        on_device = False
        for cell, value in zip(cells, values, strict=True):
            if value is not None and not isinstance(value, (int, float)):
                on_device = on_device or value.is_cuda
                source = value.detach()
                cell.copy_(source if source.dim() == 0 else source.reshape(()), non_blocking=value.is_cuda)
        if on_device:
            self._pending.append((step, slot, _record_event(), tuple(values), extra))
        elif not self._pending:  # a host copy has landed already: read it now, in order
            self._ready.append((step, self._read(slot, values), extra))
        else:
            self._pending.append((step, slot, None, tuple(values), extra))

    def _cells(self, like: Any) -> list[list[Any]]:
        if self._buffer is None:
            import torch

            self._buffer = torch.empty(
                (self.capacity, self.width), dtype=torch.float64, pin_memory=bool(like.is_cuda)
            )
            self._values = self._buffer.numpy()  # a view: reading it never touches the device
            # One 0-d view per cell, made once: a copy into it is the only per-step tensor op.
            self._views = [[self._buffer[i, j] for j in range(self.width)] for i in range(self.capacity)]
        return self._views

    def _collect(self) -> None:
        while self._pending and (self._pending[0][2] is None or self._pending[0][2].query()):
            step, slot, _, values, extra = self._pending.popleft()
            self._ready.append((step, self._read(slot, values), extra))

    def _read(self, slot: int, values: Sequence[Any]) -> tuple[float | None, ...]:
        row = self._values[slot].tolist()  # plain floats, read from our own host buffer
        return tuple(
            None if v is None else (float(v) if isinstance(v, (int, float)) else row[i])
            for i, v in enumerate(values)
        )

    def ready(self) -> list[Landed]:
        """Pop every step whose values have landed, oldest first: ``(step, values, extra)``."""
        if self._pending:
            self._collect()
        out, self._ready = self._ready, []
        return out

    def drain(self) -> list[Landed]:
        """Wait for every value still in flight and pop them all (at a flush, a checkpoint, the end)."""
        for _, _, event, _, _ in self._pending:
            if event is not None:
                event.synchronize()
        return self.ready()

    def __len__(self) -> int:
        return len(self._pending) + len(self._ready)


def _check_scalar(value: Any) -> None:
    if value.numel() != 1:
        raise ValueError(
            f"LRCallback: the loss must be a scalar (one element); got a tensor of shape {tuple(value.shape)}. "
            f"Reduce it first, e.g. loss.mean()."
        )


def _record_event() -> Any:
    import torch

    event = torch.cuda.Event()  # type: ignore[no-untyped-call]
    event.record()
    return event


def check_loss(loss: Any) -> Any:
    """The loss as given (a scalar tensor or a number); a clear error for anything else."""
    if isinstance(loss, bool) or loss is None:
        raise TypeError(
            f"LRCallback: expected the loss as a scalar tensor or a float; got loss={loss!r}. "
            f"Pass the value returned by your loss function."
        )
    if isinstance(loss, (int, float)) or (hasattr(loss, "numel") and hasattr(loss, "detach")):
        return loss
    if isinstance(loss, Mapping):
        raise TypeError(
            f"LRCallback: expected the loss tensor; got a dict with keys {sorted(loss)}. "
            f"Pass the training loss itself, e.g. outputs['loss']."
        )
    raise TypeError(
        f"LRCallback: expected the loss as a scalar tensor or a float; got loss={loss!r}. "
        f"Pass the value returned by your loss function."
    )

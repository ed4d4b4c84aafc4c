"""Moving scalars between host and device without blocking the device.

Reading device scalars (the loss, the grad norm) on the host:
``float(loss)`` on a CUDA tensor waits for the GPU to finish the step. Instead each
value is copied into a slot of a pinned host buffer with ``non_blocking=True`` and a
CUDA event is recorded after the copy; a later step reads the slots whose event has
completed (normally one step later). Host (CPU) values land at once. Nothing here
calls ``.item()``, ``float()``, ``bool()``, ``.tolist()``, ``.cpu()`` or ``.numpy()`` on
the caller's tensors. torch is imported only when the first tensor arrives.

Writing host values (the LR) into a device scalar: ``DeviceWriter``, the same pinned-slot and
event scheme the other way round.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

Landed = tuple[int, tuple[float | None, ...], Any]
_IN_ROW = object()  # stands for a value copied into the buffer row


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
        self._views: list[list[Any] | None] = []
        self._cell: Any = None  # read_now's own host scalar
        self._next = 0
        self._ready: list[Landed] = []

    def read_now(self, value: Any) -> float | None:
        """A host scalar tensor's value at once, if nothing is in flight; else ``None`` (then ``push`` it).

        The per-update path for a loss on the CPU: the tensor is copied into our own cell and the
        cell is read (the caller's tensor is never read), in four torch calls; the queue takes
        several times that once a training step has left the CPU's caches cold.
        """
        if self._pending or self._ready or value.is_cuda:
            return None
        cell = self._cell
        if cell is None:
            cell = self._cell = _new_buffer(1, 1, pinned=False)[0, 0]
        try:
            cell.copy_(value.data)  # no autograd history; fewer calls than detach()
        except RuntimeError:  # not 0-d: push reshapes (1,) or refuses the shape
            return None
        return cell.item()  # type: ignore[no-any-return]

    def take(self, step: int, values: Sequence[Any], extra: Any = None) -> list[Landed]:
        """``push`` then ``ready`` in one call: what adapters do after every update.

        A host scalar tensor followed by ``None`` values lands at once through ``read_now``.
        """
        head, *rest = values
        if getattr(head, "is_cuda", True) is False and len(rest) == self.width - 1:
            for other in rest:  # a plain loop: a generator costs more here than it saves
                if other is not None:
                    break
            else:
                value = self.read_now(head)
                if value is not None:
                    return [(step, (value, *rest), extra)]
        self.push(step, values, extra)
        return self.ready()

    def push(self, step: int, values: Sequence[Any], extra: Any = None) -> None:
        """Queue the scalars of ``step``: tensors (0-d or one element), numbers, or ``None``."""
        if len(values) != self.width:
            raise ValueError(f"DeferredScalars: expected {self.width} values per step; got {len(values)}.")
        first, on_device = None, False
        for value in values:
            if value is not None and not isinstance(value, (int, float)):
                if value.numel() != 1:
                    _refuse_shape(value)
                first = value if first is None else first
                on_device = on_device or value.is_cuda
        if first is None:
            self._ready.append((step, tuple([None if v is None else float(v) for v in values]), extra))
            return
        if not on_device and not self._pending:
            # Host values with nothing in flight land at once: one reusable row, read right away.
            self._ready.append((step, self._read(-1, self._copy(-1, first, values, False)), extra))
            return
        if len(self._pending) >= self.capacity:
            self._pending[0][2].synchronize()
            self._collect()
        slot = self._next % self.capacity
        self._next += 1
        values = self._copy(slot, first, values, on_device)
        self._pending.append((step, slot, _record_event() if on_device else None, values, extra))

    def _copy(self, slot: int, like: Any, values: Sequence[Any], non_blocking: bool) -> tuple[Any, ...]:
        """Copy the tensors into the slot's row; returns the values with each tensor replaced by a marker."""
        kept: list[Any] = []
        for cell, value in zip(self._row(slot, like), values, strict=True):
            if value is None or isinstance(value, (int, float)):
                kept.append(value)
            else:
                source = value.detach()
                cell.copy_(source if source.dim() == 0 else source.reshape(()), non_blocking)
                kept.append(_IN_ROW)  # read from the row later: no reference to the caller's tensor is kept
        return tuple(kept)

    def _row(self, slot: int, like: Any) -> list[Any]:
        """The 0-d views of one buffer row (slot -1: the host row), made once, on first use."""
        if self._buffer is None:
            # Slots 0..capacity-1 form the ring; the last row serves host values read at once.
            self._buffer = _new_buffer(self.capacity + 1, self.width, pinned=bool(like.is_cuda))
            self._values = self._buffer.numpy()  # a view: reading it never touches the device
            self._views = [None] * (self.capacity + 1)
        cells = self._views[slot]
        if cells is None:  # a copy into a view made once is the only per-step tensor op
            cells = self._views[slot] = [self._buffer[slot, j] for j in range(self.width)]
        return cells

    def _collect(self) -> None:
        while self._pending and (self._pending[0][2] is None or self._pending[0][2].query()):
            step, slot, _, values, extra = self._pending.popleft()
            self._ready.append((step, self._read(slot, values), extra))

    def _read(self, slot: int, values: Sequence[Any]) -> tuple[float | None, ...]:
        row = self._values[slot].tolist()  # plain floats, read from our own host buffer
        return tuple(
            [
                x if v is _IN_ROW else (None if v is None else float(v))
                for v, x in zip(values, row, strict=True)
            ]
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


class DeviceWriter:
    """Host floats written into a device scalar without waiting for the device.

    Assigning a Python float to a CUDA tensor (a Keras variable's ``assign`` too) copies from
    pageable host memory, which waits for the device: one sync per update when the LR changes
    every update. Here each value goes into a slot of a small pinned ring and is copied with
    ``non_blocking=True`` into ``value``, a device scalar the device reads in stream order; an
    event after the copy says when the slot may be written again (waited for only when the
    device is ``slots`` writes behind). The value equals ``torch.tensor(x, dtype=like.dtype)``.

    Args:
        like: a device tensor whose dtype and device ``value`` takes.
        slots: pinned slots in the ring.
    """

    def __init__(self, like: Any, slots: int = 16) -> None:
        import torch

        self._host = _new_buffer(slots, 1, pinned=True, dtype=like.dtype)
        self._values = self._host.numpy()  # a view: writing it never touches the device
        self._cells = [self._host[i, 0] for i in range(slots)]
        self._events: list[Any] = [None] * slots
        self._next = 0
        self.value = torch.empty((), dtype=like.dtype, device=like.device)

    def write(self, x: float) -> Any:
        """Queue ``x`` into ``value`` (stream-ordered) and return ``value``."""
        slot = self._next % len(self._cells)
        self._next += 1
        event = self._events[slot]
        if event is not None and not event.query():
            event.synchronize()  # the copy out of this slot is still in flight
        self._values[slot, 0] = x
        self.value.copy_(self._cells[slot], non_blocking=True)
        self._events[slot] = _record_event()
        return self.value


def _refuse_shape(value: Any) -> None:
    raise ValueError(
        f"LRCallback: the loss must be a scalar (one element); got a tensor of shape {tuple(value.shape)}. "
        f"Reduce it first, e.g. loss.mean()."
    )


def _new_buffer(rows: int, width: int, pinned: bool, dtype: Any = None) -> Any:
    import torch

    return torch.empty((rows, width), dtype=dtype or torch.float64, pin_memory=pinned)


def _record_event() -> Any:
    import torch

    event = torch.cuda.Event()  # type: ignore[no-untyped-call]
    event.record()
    return event


def check_loss(loss: Any) -> Any:
    """The loss as given (a scalar tensor or a number); a clear error for anything else."""
    if hasattr(loss, "numel") and hasattr(loss, "detach"):  # a tensor: the usual case, checked first
        return loss
    if isinstance(loss, bool) or loss is None:
        raise TypeError(
            f"LRCallback: expected the loss as a scalar tensor or a float; got loss={loss!r}. "
            f"Pass the value returned by your loss function."
        )
    if isinstance(loss, (int, float)):
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

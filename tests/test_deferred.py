"""The device path of DeferredScalars (ring slots, events, order, overflow) without a GPU.

A CUDA copy cannot be made on this machine, so the two things only a GPU has are faked: a
scalar that says it lives on the device (its value is a real CPU tensor) and the CUDA event
recorded after its copy (here it completes when the test says so). Everything else is real.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import pytest
import torch

from lr_callbacks import deferred
from lr_callbacks.deferred import DeferredScalars, DeviceWriter


class FakeEvent:
    def __init__(self, log: list[FakeEvent]) -> None:
        self.done = False
        log.append(self)

    def query(self) -> bool:
        return self.done

    def synchronize(self) -> None:
        self.done = True


class DeviceScalar:
    """Stands in for a 0-d CUDA tensor: only what DeferredScalars touches."""

    is_cuda = True

    def __init__(self, value: float) -> None:
        self.value = torch.tensor(value)

    def numel(self) -> int:
        return 1

    def detach(self) -> torch.Tensor:
        return self.value


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[FakeEvent]:
    log: list[FakeEvent] = []
    monkeypatch.setattr(deferred, "_record_event", lambda: FakeEvent(log))
    monkeypatch.setattr(
        deferred,
        "_new_buffer",
        lambda rows, width, pinned, dtype=None: torch.empty(rows, width, dtype=dtype or torch.float64),
    )
    return log


def test_device_values_wait_for_their_event_and_land_in_order(events: list[FakeEvent]) -> None:
    queue = DeferredScalars(width=2, capacity=4)
    queue.push(0, (DeviceScalar(1.5), None), "a")
    queue.push(1, (torch.tensor(2.5), 0.25), "b")  # a host value behind one in flight waits its turn
    queue.push(2, (DeviceScalar(3.5), DeviceScalar(0.5)), "c")
    assert queue.ready() == [] and len(queue) == 3
    events[0].done = True
    assert queue.ready() == [(0, (1.5, None), "a"), (1, (2.5, 0.25), "b")]
    events[1].done = True
    assert queue.ready() == [(2, (3.5, 0.5), "c")]
    queue.push(3, (torch.tensor(4.5), None), "d")  # nothing in flight: a host value lands at once
    assert queue.ready() == [(3, (4.5, None), "d")]


def test_a_value_in_flight_holds_no_reference_to_the_callers_tensor(events: list[FakeEvent]) -> None:
    queue = DeferredScalars(width=1, capacity=4)
    loss = DeviceScalar(1.5)  # a real loss would hold its autograd graph
    alive = weakref.ref(loss)
    queue.push(0, (loss,))
    del loss
    assert alive() is None and len(queue) == 1
    assert queue.drain() == [(0, (1.5,), None)]


def test_a_full_ring_waits_for_the_oldest_copy_and_reuses_its_slot(events: list[FakeEvent]) -> None:
    queue = DeferredScalars(width=1, capacity=2)
    landed: list[Any] = []
    for step in range(7):
        queue.push(step, (DeviceScalar(10.0 + step),))
        landed += queue.ready()
    assert [e.done for e in events] == [True] * 5 + [False] * 2  # only overflow synchronized
    landed += queue.drain()
    assert landed == [(step, (10.0 + step,), None) for step in range(7)]
    assert all(e.done for e in events)


def test_device_writer_lands_each_value_rounded_as_the_target_dtype(events: list[FakeEvent]) -> None:
    writer = DeviceWriter(torch.zeros((), dtype=torch.float32), slots=4)
    for x in (1e-3, 0.1, 3e-4 * 0.5 * (1 + math.cos(math.pi * 0.3))):
        value = writer.write(x)
        assert value is writer.value and value.shape == ()
        assert torch.equal(value, torch.tensor(x, dtype=torch.float32))  # what assigning the float gives
    assert len(events) == 3  # one event per copy


def test_device_writer_reuses_a_slot_only_after_its_copy_landed(events: list[FakeEvent]) -> None:
    writer = DeviceWriter(torch.zeros((), dtype=torch.float64), slots=2)
    writer.write(1.0)
    writer.write(2.0)
    events[1].done = True
    writer.write(3.0)  # slot 0 again: its copy is still in flight, so this one waits for it
    assert events[0].done and writer.value.item() == 3.0
    writer.write(4.0)  # slot 1: landed already, no wait
    assert [e.done for e in events] == [True, True, False, False] and writer.value.item() == 4.0


def test_host_values_land_at_once_as_plain_floats_whatever_their_form() -> None:
    queue = DeferredScalars(width=2)
    pushed = [
        (torch.tensor(1.5), None),
        (torch.tensor(2.5, requires_grad=True) * 1, 0.5),  # the usual case, after the first
        (torch.tensor([3.5]), torch.tensor(4)),  # shape (1,), an integer tensor
        (6, None),  # a plain number
        (torch.tensor(float("nan")), torch.tensor(7.0)),
    ]
    for step, values in enumerate(pushed):
        queue.push(step, values, step)
        (landed,) = queue.ready()
        assert landed[0] == step and landed[2] == step
        assert all(v is None or type(v) is float for v in landed[1])
        expected = tuple(
            None if v is None else float(v.detach() if hasattr(v, "detach") else v) for v in values
        )
        assert [str(v) for v in landed[1]] == [str(v) for v in expected]  # NaN compares as text


def test_read_now_reads_a_host_scalar_through_its_own_cell_only_when_nothing_is_in_flight(
    events: list[FakeEvent],
) -> None:
    queue = DeferredScalars(width=1)
    loss = torch.tensor(2.5, requires_grad=True) * 1
    assert queue.read_now(loss) == 2.5 and loss.grad_fn is not None  # read, the graph left alone
    assert queue.read_now(torch.tensor(3, dtype=torch.int64)) == 3.0
    assert queue.read_now(torch.tensor([1.5])) is None  # not 0-d: push takes it
    assert queue.read_now(DeviceScalar(1.0)) is None  # on the device: push takes it
    queue.push(0, (DeviceScalar(1.0),))
    assert queue.read_now(torch.tensor(4.0)) is None  # behind a value in flight: keep the order
    events[0].done = True
    assert queue.ready() == [(0, (1.0,), None)]
    assert queue.read_now(torch.tensor(4.0)) == 4.0


def test_take_lands_a_host_loss_at_once_and_queues_the_rest_in_order(events: list[FakeEvent]) -> None:
    queue = DeferredScalars(width=2)
    assert queue.take(0, (torch.tensor(1.5), None), "a") == [(0, (1.5, None), "a")]
    assert queue.take(1, (torch.tensor(2.5), torch.tensor(0.5)), "b") == [(1, (2.5, 0.5), "b")]
    assert queue.take(2, (DeviceScalar(3.5), None), "c") == []  # in flight until its event completes
    assert queue.take(3, (torch.tensor(4.5), None), "d") == []  # behind it: the order is kept
    events[0].done = True
    assert queue.take(4, (torch.tensor(5.5), None), "e") == [
        (2, (3.5, None), "c"),
        (3, (4.5, None), "d"),
        (4, (5.5, None), "e"),
    ]

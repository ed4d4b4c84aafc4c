"""Per-param-group LRs keep their proportions at every step."""

from __future__ import annotations

import pytest


def test_group_lrs_keep_the_ten_to_one_ratio(example):
    bound = example.bind()
    for t in range(0, example.total_steps + 10, 7):
        first, second = bound.group_lrs(t, [1e-3, 1e-4])
        assert first == bound(t)
        assert second == pytest.approx(first / 10, rel=1e-15, abs=0.0)


def test_group_lrs_three_groups(example):
    bound = example.bind()
    t = example.total_steps // 2
    lrs = bound.group_lrs(t, [2.0, 1.0, 0.5])
    assert lrs == pytest.approx([bound(t), bound(t) / 2, bound(t) / 4], rel=1e-15, abs=0.0)


def test_group_lrs_single_group_is_the_schedule(example):
    bound = example.bind()
    assert bound.group_lrs(3, [5.0]) == [bound(3)]

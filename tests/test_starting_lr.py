"""The guide's starting-LR table and the far-outside warning."""

from __future__ import annotations

import pytest

from lr_callbacks.starting_lr import (
    STARTING_LR,
    check_peak_lr,
    check_scenario,
    optimizer_family,
    recommended_lr_range,
    starting_lr_warning,
)


@pytest.mark.parametrize(
    ("scenario", "adam", "sgd"),
    [
        ("llm_pretraining", (1e-4, 3e-4), (1e-3, 3e-2)),
        ("llm_finetuning", (1e-5, 5e-5), (1e-4, 5e-3)),
        ("lora", (1e-4, 3e-4), (1e-3, 3e-2)),
        ("cnn_scratch", (1e-3, 1e-3), (1e-2, 1e-1)),
        ("cnn_finetuning", (1e-4, 1e-4), (1e-3, 1e-2)),
    ],
)
def test_table(scenario: str, adam: tuple[float, float], sgd: tuple[float, float]) -> None:
    assert recommended_lr_range(scenario) == adam
    assert recommended_lr_range(scenario, "adam") == adam
    assert recommended_lr_range(scenario, optimizer="sgd") == sgd
    assert recommended_lr_range(scenario, "SGD") == sgd


def test_table_covers_the_guide() -> None:
    assert sorted(STARTING_LR) == [
        "cnn_finetuning",
        "cnn_scratch",
        "llm_finetuning",
        "llm_pretraining",
        "lora",
    ]


@pytest.mark.parametrize("peak_lr", [1e-5, 3e-5, 5e-5, 5e-4, 2e-6])
def test_no_warning_within_ten_times_of_the_range(peak_lr: float) -> None:
    assert check_peak_lr(peak_lr, "llm_finetuning") is None


def test_warns_far_above() -> None:
    message = check_peak_lr(1e-3, "llm_finetuning")
    assert message is not None
    assert message.startswith("peak_lr=0.001 is 20x above the usual starting LR for llm_finetuning with adam")
    assert "Lower it" in message


def test_warns_far_below() -> None:
    message = check_peak_lr(1e-6, "cnn_scratch", "sgd")
    assert message is not None
    assert "10000x below the usual starting LR for cnn_scratch with sgd (0.01 .. 0.1)" in message
    assert "Raise it" in message


def test_sgd_range_is_not_a_warning_for_sgd_but_is_for_adam() -> None:
    assert check_peak_lr(0.05, "cnn_scratch", "sgd") is None
    assert check_peak_lr(0.05, "cnn_scratch", "adam") is not None


def test_unknown_scenario_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"recommended_lr_range: scenario must be one of \['cnn_finetuning'.*got scenario='gpt'",
    ):
        recommended_lr_range("gpt")
    with pytest.raises(
        ValueError, match=r"check_peak_lr: scenario must be one of .*'lora'.*got scenario=None"
    ):
        check_peak_lr(1e-4, None)  # type: ignore[arg-type]


def test_unknown_optimizer_names_the_families() -> None:
    with pytest.raises(
        ValueError, match=r"optimizer must be one of \['adam', 'sgd'\].*got optimizer='rmsprop'"
    ):
        recommended_lr_range("lora", "rmsprop")


@pytest.mark.parametrize(
    ("peak_lr", "error", "match"),
    [
        ("1e-4", TypeError, r"check_peak_lr: peak_lr must be a number; got peak_lr='1e-4'"),
        (True, TypeError, r"got peak_lr=True"),
        (0.0, ValueError, r"check_peak_lr: peak_lr must be a finite number > 0; got peak_lr=0.0"),
        (float("nan"), ValueError, r"got peak_lr=nan"),
    ],
)
def test_bad_peak_lr(peak_lr: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        check_peak_lr(peak_lr, "lora")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("SGD", "sgd"),
        ("AdamW", "adam"),
        ("NAdam", "adam"),
        ("Lion", "adam"),
        ("RMSprop", "adam"),
        ("LBFGS", None),
    ],
)
def test_optimizer_family_from_the_class_name(name: str, family: str | None) -> None:
    assert optimizer_family(name) == family


@pytest.mark.parametrize(
    ("scenario", "peak_lr", "optimizer", "warns"),
    [
        ("llm_finetuning", 1e-3, "AdamW", "20x above"),
        ("llm_finetuning", 3e-5, "AdamW", None),
        ("llm_finetuning", 1e-3, "SGD", None),  # SGD's range is 10-100x Adam's
        ("cnn_scratch", 1e-5, "SGD", "1000x below"),
        (None, 1.0, "AdamW", None),  # no scenario: no advice
        ("llm_finetuning", None, "AdamW", None),  # a bare callable: no peak to check
        ("llm_finetuning", 1.0, "LBFGS", None),  # a family the table does not know
    ],
)
def test_starting_lr_warning_is_check_peak_lr_for_the_family(
    scenario: str | None, peak_lr: float | None, optimizer: str, warns: str | None
) -> None:
    message = starting_lr_warning(scenario, peak_lr, optimizer)
    assert (message is None) if warns is None else (message is not None and warns in message)


def test_check_scenario_names_the_valid_ones() -> None:
    assert check_scenario("LRCallback", None) is None
    assert check_scenario("LRCallback", "lora") == "lora"
    with pytest.raises(ValueError, match=r"LRCallback: scenario must be one of \['cnn_finetuning'"):
        check_scenario("LRCallback", "llm")

"""TensorBoard log dirs written by a real writer, with each framework's default tag names."""

from __future__ import annotations

import pytest

from lr_callbacks.readers import RunLogError, read_run

pytest.importorskip("tensorboard")
tb = pytest.importorskip("torch.utils.tensorboard")


def _write(folder, scalars: dict[str, list[tuple[int, float]]]) -> None:
    writer = tb.SummaryWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()


TRAIN = [(s, 2.3 - 0.1 * s) for s in range(5)]
LR = [(s, 1e-3) for s in range(5)]
VAL = [(4, 2.0)]

LAYOUTS = {
    "lightning": {"train_loss": TRAIN, "lr-Adam": LR, "val_loss": VAL, "epoch": [(0, 0.0)]},
    "lightning_groups": {"train_loss_step": TRAIN, "lr-SGD/pg1": LR, "lr-SGD/pg2": LR},
    "hf_trainer": {"train/loss": TRAIN, "train/learning_rate": LR, "eval/loss": VAL,
                   "train/grad_norm": LR},
    "ours": {"lr_callbacks/loss": TRAIN, "lr_callbacks/lr/group0": LR,
             "lr_callbacks/val_loss": VAL},
}  # fmt: skip


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_default_tag_names_are_recognised(tmp_path, layout):
    _write(tmp_path, LAYOUTS[layout])
    log = read_run(tmp_path)
    assert log.steps == [0, 1, 2, 3, 4]
    assert log.losses == pytest.approx([v for _, v in TRAIN])
    assert log.lrs == pytest.approx([1e-3] * 5)
    assert log.evals == ([] if layout == "lightning_groups" else [(4, 2.0)])


def test_keras_train_and_validation_subfolders(tmp_path):
    _write(tmp_path / "train", {"batch_loss": TRAIN, "learning_rate": LR, "epoch_loss": VAL})
    _write(tmp_path / "validation", {"epoch_loss": VAL})
    log = read_run(tmp_path)
    assert log.keys == {"step": "step", "loss": "train/batch_loss", "lr": "train/learning_rate",
                        "val": "validation/epoch_loss"}  # fmt: skip
    assert len(log.steps) == 5 and log.evals == [(4, pytest.approx(2.0))]


def test_several_runs_must_be_chosen(tmp_path):
    _write(tmp_path / "version_0", LAYOUTS["lightning"])
    _write(tmp_path / "version_1", LAYOUTS["lightning"])
    with pytest.raises(RunLogError, match=r"event files of several runs \(version_0, version_1\)"):
        read_run(tmp_path)


def test_tag_override(tmp_path):
    _write(tmp_path, {"my/objective": TRAIN})
    assert len(read_run(tmp_path, loss_key="my/objective").steps) == 5
    with pytest.raises(RunLogError, match=r"missing loss column"):
        read_run(tmp_path)

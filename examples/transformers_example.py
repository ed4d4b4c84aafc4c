"""HF Trainer + LRCallback: a tiny character-level GPT-2 learns Python's own ``textwrap.py`` on CPU.

    python examples/transformers_example.py [OUTPUT_DIR]

One line is added to a plain Trainer script: ``callbacks=[LRCallback(...)]``. The callback sets
the LR of every update (warmup, then cosine), logs it beside the per-update loss to
TensorBoard (``OUTPUT_DIR/runs``: ``lr_callbacks/lr/group0`` and ``lr_callbacks/loss``), and
alerts (and stops) on a NaN loss.
"""

import os
import sys
import sysconfig
import tempfile
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from lr_callbacks.integrations.transformers import LRCallback

BLOCK = 64


class CharDataset(torch.utils.data.Dataset):
    """Overlapping windows of a text, one id per character."""

    def __init__(self, text: str, vocab: dict[str, int]) -> None:
        self.ids = torch.tensor([vocab[c] for c in text])

    def __len__(self) -> int:
        return (len(self.ids) - BLOCK) // (BLOCK // 2) + 1

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        window = self.ids[index * BLOCK // 2 :][:BLOCK]
        return {"input_ids": window, "labels": window}


def main(output_dir: str) -> None:
    text = Path(sysconfig.get_paths()["stdlib"], "textwrap.py").read_text(encoding="utf-8")
    vocab = {c: i for i, c in enumerate(sorted(set(text)))}
    split = int(len(text) * 0.9)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=64, vocab_size=len(vocab), n_positions=BLOCK)
    config.bos_token_id = config.eos_token_id = 0
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(Path(output_dir, "runs")))
    args = TrainingArguments(
        output_dir,
        per_device_train_batch_size=16,
        max_steps=60,
        use_cpu=True,
        eval_strategy="steps",
        eval_steps=20,
        logging_steps=10,
        logging_nan_inf_filter=False,  # HF's default hides a NaN loss in its logs (and syncs twice a step)
        save_strategy="no",
        report_to=["tensorboard"],
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=GPT2LMHeadModel(config),
        args=args,
        train_dataset=CharDataset(text[:split], vocab),
        eval_dataset=CharDataset(text[split:], vocab),
        callbacks=[LRCallback("warmup_cosine(peak_lr=3e-3, warmup=0.1, min_lr_ratio=0.1)")],
    )
    trainer.train()
    print(f"{'step':>5} {'learning rate':>14} {'loss':>8}")
    for row in trainer.state.log_history:
        if "loss" in row:
            print(f"{row['step']:>5} {row['learning_rate']:>14.3e} {row['loss']:>8.3f}")
    print(
        f"eval loss {trainer.evaluate()['eval_loss']:.3f}; TensorBoard: {os.environ['TENSORBOARD_LOGGING_DIR']}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="lr_callbacks_hf_"))

"""One rank of the HF Trainer DDP test: same LR on every rank; a NaN on rank 1 only stops both."""

import json
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

from lr_callbacks.diagnostics import NonFiniteRule
from lr_callbacks.integrations.transformers import LRCallback
from lr_callbacks.sinks import ListSink

SPEC, POISON = "warmup_cosine(peak_lr=0.01, warmup=2, min_lr_ratio=0.1)", 3


class Tokens(torch.utils.data.Dataset):
    def __init__(self) -> None:
        self.ids = torch.randint(0, 64, (64, 16), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.ids[index], "labels": self.ids[index]}


class Poisoned(GPT2LMHeadModel):
    """NaN loss at update POISON, on rank 1 only."""

    def __init__(self, rank: int) -> None:
        super().__init__(
            GPT2Config(
                n_layer=1, n_head=2, n_embd=32, vocab_size=64, n_positions=32, bos_token_id=0, eos_token_id=0
            )
        )
        self.rank, self.calls = rank, 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = super().forward(*args, **kwargs)
        if self.training:
            if self.rank == 1 and self.calls == POISON:
                out.loss = out.loss * float("nan")
            self.calls += 1
        return out


class Probe(TrainerCallback):
    def __init__(self) -> None:
        self.lrs: list[float] = []
        self.scheduler_steps: list[int] = []

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.lrs.append(kw["optimizer"].param_groups[0]["lr"])

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.scheduler_steps.append(kw["lr_scheduler"].last_epoch)  # once per update, not per process


def main(out: Path) -> None:
    args = TrainingArguments(
        str(out / "run"), per_device_train_batch_size=4, max_steps=8, use_cpu=True, report_to=[],
        save_strategy="no", disable_tqdm=True, logging_steps=1, logging_nan_inf_filter=False, seed=0, remove_unused_columns=False, label_names=["labels"],
    )  # fmt: skip
    rank = args.process_index
    torch.manual_seed(0)
    sink, probe = ListSink(), Probe()
    cb = LRCallback(SPEC, sinks=[sink], rules=[NonFiniteRule()])
    trainer = Trainer(model=Poisoned(rank), args=args, train_dataset=Tokens(), callbacks=[cb, probe])
    trainer.train()
    result = {
        "backend": torch.distributed.get_backend(),
        "lrs": probe.lrs,
        "scheduler_steps": probe.scheduler_steps,
        "logged_lrs": [row["learning_rate"] for row in trainer.state.log_history if "learning_rate" in row],
        "global_step": trainer.state.global_step,
        "alerts": [a.to_dict() for a in sink.alerts],
    }
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    if torch.distributed.is_initialized():  # left to interpreter exit, gloo's threads once aborted a rank
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""One rank of the plain-PyTorch DDP test: a NaN on rank 1 only must stop every rank at once."""

import json
import sys
from pathlib import Path

import torch

from lr_callbacks.integrations.torch import LRCallback
from lr_callbacks.sinks import ListSink

SPEC, T, POISON = "warmup_cosine(peak_lr=0.05, warmup=10, min_lr_ratio=0.1)", 60, 33


def main(out: Path) -> None:
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    sink = ListSink()
    cb = LRCallback(SPEC, optimizer, total_steps=T, sinks=[sink])
    torch.manual_seed(rank)
    lrs = []
    for t in range(T):
        x = torch.randn(8, 4)
        lrs.append(optimizer.param_groups[0]["lr"])
        loss = torch.nn.functional.mse_loss(model(x), x[:, :1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        cb.step(loss * float("nan") if (rank == 1 and t == POISON) else loss)
        if cb.should_stop:
            break
    cb.close()
    alerts = [a.to_dict() for a in sink.alerts]
    (out / f"rank{rank}.json").write_text(json.dumps({"lrs": lrs, "alerts": alerts, "stop": cb.should_stop}))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

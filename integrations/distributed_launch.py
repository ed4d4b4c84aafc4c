"""Run a worker script in N processes with a hard timeout, as ``torchrun`` would (gloo, CPU).

Each process gets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``
in its environment. A process still alive at the deadline is killed and the call fails, so a
distributed hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

WORKERS = Path(__file__).parent / "workers"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_workers(script: str, args: Sequence[str], nprocs: int = 2, timeout: float = 180.0) -> list[str]:
    """Start ``workers/<script>`` in ``nprocs`` processes; return their outputs, or raise on failure/hang."""
    port = str(free_port())
    procs = []
    for rank in range(nprocs):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(nprocs),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            OMP_NUM_THREADS="1",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKERS / script), *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    deadline = time.monotonic() + timeout
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1.0))
            outputs.append(out)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{script}: workers still running after {timeout:.0f} s (a distributed hang)"
        ) from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for rank, (proc, out) in enumerate(zip(procs, outputs, strict=True)):
        if proc.returncode != 0:
            raise AssertionError(f"{script}: rank {rank} exited with {proc.returncode}:\n{out[-4000:]}")
    return outputs

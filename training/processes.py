"""The trainer's processes: its rank under torchrun (DDP), and its data-loading workers, which leave Ctrl-C
and kill to the main process (it saves last.pt, then ends them)."""

from __future__ import annotations

import multiprocessing
import os
import signal

import torch
import torch.distributed as dist


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); starts the process group when torchrun runs several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank() if world > 1 else 0), world, int(os.environ.get("LOCAL_RANK", "0"))


def stop_workers() -> None:
    """After an interrupt: the data-loading workers ignore SIGINT and SIGTERM (below), so the SIGTERM that
    multiprocessing sends its children at exit would not stop them and its join would wait for ever (a
    signalled trainer hung so, now and then). Kill them instead, and wait a little for them."""
    children = multiprocessing.active_children()
    for child in children:
        child.kill()
    for child in children:
        child.join(timeout=5)


_stop = {"asked": False}


def interrupt(_signum: int, _frame) -> None:
    """The trainer's SIGINT and SIGTERM handler: KeyboardInterrupt (save last.pt, then stop), and remembered.
    Python reports and drops an exception raised inside some callbacks: a signal that lands while a
    data-loading worker is being forked raises it in logging's at-fork handler, and the run went on (a
    test waited for it in vain, once in CI). The training loop asks ``stop_asked`` after every step."""
    _stop["asked"] = True
    raise KeyboardInterrupt


def stop_asked() -> bool:
    return _stop["asked"]


def clear_stop() -> None:
    _stop["asked"] = False


def ignore_stop_signals(_worker_id: int) -> None:
    """In each data-loading worker: Ctrl-C and kill reach the whole process group, and a worker that
    died of them made the main process fail before it could save last.pt. The main process alone
    handles them (saves, stops) and then ends its workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

"""The processes a benchmark starts and watches: gunicorn serving one of the services on a free 127.0.0.1 port
(until /readyz answers), a process's children (gunicorn's workers) from /proc, and their resident memory
sampled through a run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return sorted(children)


def rss_kib(pid: int) -> int | None:
    """Resident memory of ``pid`` in KiB (VmRSS), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_sample(pids: list[int]) -> dict[int, int]:
    """VmRSS in KiB of each of ``pids`` and of their children."""
    every = [q for pid in pids for q in (pid, *child_pids(pid))]
    return {pid: kib for pid in every if (kib := rss_kib(pid)) is not None}


def _total(sample: dict[int, int]) -> int:
    return sum(sample.values())


class RssMonitor(threading.Thread):
    """Samples the RSS of some processes and their children every ``interval`` s, with the answers so far."""

    def __init__(self, pids: list[int], interval: float, answered: Callable[[], int]):
        super().__init__(daemon=True)
        self.pids, self.interval, self.answered = pids, interval, answered
        self.samples: list[tuple[int, dict[int, int]]] = [(0, rss_sample(pids))]
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.samples.append((self.answered(), rss_sample(self.pids)))

    def stop(self) -> dict:
        self.done.set()
        self.join()
        self.samples.append((self.answered(), rss_sample(self.pids)))
        (_, first), (_, last) = self.samples[0], self.samples[-1]
        middle = min(self.samples, key=lambda s: abs(s[0] - self.samples[-1][0] / 2))[1]
        by_pid = {pid: {"before": first.get(pid), "after": last.get(pid),
                        "growth": last[pid] - first[pid] if pid in first and pid in last else None}
                  for pid in sorted(set(first) | set(last))}
        return {"root_pids": self.pids, "by_pid": by_pid, "total_before": _total(first),
                "total_after": _total(last), "total_growth": _total(last) - _total(first),
                "growth_first_half": _total(middle) - _total(first),
                "growth_second_half": _total(last) - _total(middle),
                "samples": [{"answers": n, "total_kib": _total(sample)} for n, sample in self.samples]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(service: str, env: dict[str, str], logs: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``gunicorn -c <service>/gunicorn.conf.py`` on a free 127.0.0.1 port, until /readyz answers 200."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    full_env |= {"HOST": "127.0.0.1", "PORT": str(port), **env}
    with open(logs / f"{service}.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", f"{service}/gunicorn.conf.py"],
                                   cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{service} did not start; see {logs / f'{service}.log'}")
            try:
                if requests.get(f"{url}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        yield url, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _memory_mib() -> tuple[float, float]:
    """This process's resident memory, MiB: anonymous (its own) and file-backed (libraries, mapped weights,
    shared with every worker that maps the same files, so a container counts them once)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["RssAnon"].split()[0]) / 1024, int(fields["RssFile"].split()[0]) / 1024


def worker_stages(source: Path, megapixels: tuple[float, ...] = (1, 12)) -> list[tuple[str, float, float]]:
    """What one model service worker holds, stage by stage, as gunicorn's worker builds it (create_app with
    the environment's settings: MODEL_CHECKPOINTS, MODEL_RUNTIME ...), then after a request of each size."""
    import ctypes
    import gc
    import io

    stages = [("python", *_memory_mib())]
    import flask  # noqa: F401
    import numpy  # noqa: F401
    from PIL import Image

    stages.append(("flask, numpy, Pillow", *_memory_mib()))
    import torch  # noqa: F401

    stages.append(("torch imported", *_memory_mib()))
    from model_service import create_app

    app = create_app({"WARMUP": False})
    stages.append(("models loaded (create_app)", *_memory_mib()))
    app.extensions["model_service"].warm_up()  # as the worker does before it takes connections
    stages.append(("warmed up (and the loading's garbage given back)", *_memory_mib()))
    client, grey = app.test_client(), Image.open(source).convert("L")
    for mp in megapixels:
        side = round((mp * 1e6) ** 0.5)
        buffer = io.BytesIO()
        grey.resize((side, side)).save(buffer, "JPEG", quality=90)
        answer = client.post("/v1/colorize", data=buffer.getvalue(), headers={"Content-Type": "image/jpeg"})
        assert answer.status_code == 200, answer.data[:200]
        answer.close()  # as a server does once it has sent it: the body's reservation ends (colorize.bodies)
        stages.append((f"after a {mp:g} MP request", *_memory_mib()))
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    stages.append(("after malloc_trim(0)", *_memory_mib()))
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    stages.append(("after gc.collect() and malloc_trim(0)", *_memory_mib()))
    return stages


if __name__ == "__main__":
    # python -m benchmarks.processes: a model service worker's memory, stage by stage (docs/limits.md).
    from benchmarks.machine import cpu_model

    rows = worker_stages(ROOT.parent / "shared/data/bench/kodak24/kodim04.jpg")
    print(f"{cpu_model()}; MODEL_RUNTIME={os.environ.get('MODEL_RUNTIME', 'auto')}\n")
    print("| stage | anonymous MiB | file-backed MiB | resident MiB |\n|---|---:|---:|---:|")
    for name, anon, file in rows:
        print(f"| {name} | {anon:.0f} | {file:.0f} | {anon + file:.0f} |")

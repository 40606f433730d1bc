"""Video jobs on disk, shared by every worker and kept across restarts: one folder per job under VIDEO_JOBS_DIR
holding ``input`` (the upload), ``job.json`` (its state) and ``result.mp4`` once done.

``job.json`` is replaced whole (a temporary file renamed over it), so a reader never sees half of one; every
change reads, changes and writes it holding an exclusive flock on ``.lock`` in the folder, so that two workers
(or threads) never claim one job or lose each other's changes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model_service.gate import Busy

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
JOB_FILE, INPUT_FILE, RESULT_FILE, LOCK_FILE = "job.json", "input", "result.mp4", ".lock"
# A folder without job.json is an upload in progress; one whose files have not changed for this long was left by
# a worker that died while receiving it.
ABANDONED_UPLOAD_S = 3600.0
FINISHED = ("done", "failed")


@dataclass(frozen=True)
class Owner:
    """The process running a job: its host and pid, and a token of this incarnation (a pid can come back after a
    restart of the container, the token does not)."""

    host: str
    pid: int
    token: str


_owner: Owner | None = None


def this_process() -> Owner:
    """This process's Owner (a new one after a fork)."""
    global _owner
    if _owner is None or _owner.pid != os.getpid():
        _owner = Owner(socket.gethostname(), os.getpid(), secrets.token_hex(8))
    return _owner


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has that pid and has not exited (a zombie has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


class JobStore:
    """The jobs folder; ``on_end(state)`` is called when a job ends (done, failed, cancelled)."""

    def __init__(self, root: str | Path, *, max_queued: int, stale_s: float, max_attempts: int, ttl_s: float,
                 on_end: Callable[[str], None] | None = None):
        self.root, self.max_queued, self.stale_s = Path(root), max_queued, stale_s
        self.max_attempts, self.ttl_s, self.on_end = max_attempts, ttl_s, on_end

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def folder(self, job_id: str) -> Path:
        """The job's folder; KeyError for a string that is not a job id (nothing outside the folder is reached)."""
        if not ID_PATTERN.fullmatch(job_id):
            raise KeyError(job_id)
        return self.root / job_id

    def new_folder(self) -> tuple[str, Path]:
        """A new job's id and its empty folder (for the upload; the job exists once ``submit`` writes job.json)."""
        job_id = secrets.token_hex(16)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def read(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None for an unknown id."""
        try:
            return json.loads((self.folder(job_id) / JOB_FILE).read_text())
        except (KeyError, OSError, ValueError):
            return None

    def _write(self, job: dict[str, Any]) -> None:
        folder = self.root / job["id"]
        temporary = folder / f".{JOB_FILE}.{os.getpid()}.{threading.get_ident()}"
        temporary.write_text(json.dumps(job))
        os.replace(temporary, folder / JOB_FILE)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job in the folder (uploads in progress have none yet), oldest first."""
        if not self.root.is_dir():
            return []
        found = [job for entry in os.listdir(self.root) if ID_PATTERN.fullmatch(entry)
                 if (job := self.read(entry)) is not None]
        return sorted(found, key=lambda job: job["created_at"])

    def queued(self) -> int:
        return sum(job["state"] == "queued" for job in self.jobs())

    def check_room(self) -> None:
        """Busy when VIDEO_MAX_QUEUED jobs are waiting already."""
        waiting = self.queued()
        if waiting >= self.max_queued:
            raise Busy(f"{waiting} videos are already waiting (VIDEO_MAX_QUEUED={self.max_queued}); try again "
                       "later", "video_queue_full")

    def submit(self, job: dict[str, Any]) -> None:
        """Write a new job (its folder made by new_folder), if there is room in the queue (else Busy)."""
        with self.locked():
            self.check_room()
            self._write(job)

    def claim(self, owner: Owner) -> dict[str, Any] | None:
        """Recover the jobs whose worker is gone, then take the oldest queued one for ``owner`` (None: none)."""
        if not self.root.is_dir():
            return None
        with self.locked():
            now = time.time()
            jobs = self.jobs()
            for job in jobs:
                if job["state"] == "running" and self._lost(job, owner, now):
                    self._recover(job, now)
            waiting = [job for job in jobs if job["state"] == "queued" and not job.get("cancel")]
            if not waiting:
                return None
            job = waiting[0]
            job.update(state="running", owner=asdict(owner), heartbeat=now, started_at=now, updated_at=now,
                       attempts=job["attempts"] + 1, frames_done=0, fps=0.0, eta_s=None)
            self._write(job)
            return job

    def _lost(self, job: dict[str, Any], owner: Owner, now: float) -> bool:
        """Whether the worker running ``job`` is gone: silent for VIDEO_STALE_S, or dead on this host."""
        if now - job.get("heartbeat", 0.0) > self.stale_s:
            return True
        runner = job.get("owner") or {}
        if runner.get("host") != owner.host:
            return False  # another host's pids mean nothing here: its heartbeat decides
        if runner.get("pid") == owner.pid:
            return runner.get("token") != owner.token  # an earlier process that had this pid
        return not pid_alive(int(runner.get("pid", 0)))

    def _recover(self, job: dict[str, Any], now: float) -> None:
        folder = self.root / job["id"]
        for partial in folder.glob(f".{RESULT_FILE}.*.partial"):  # the dead worker's half-written result
            partial.unlink(missing_ok=True)
        if job.get("cancel"):
            self._ended("cancelled")
            shutil.rmtree(folder, ignore_errors=True)
            return
        if job["attempts"] >= self.max_attempts:
            log.error("video job %s: its worker stopped %d times; failed", job["id"], job["attempts"])
            self._end(job, now, "failed", error={
                "code": "worker_lost",
                "message": f"the worker colouring it stopped {job['attempts']} times (killed, out of memory or "
                           "restarted), so it is not tried again"})
            return
        log.warning("video job %s: its worker is gone; queued again (attempt %d of %d done)", job["id"],
                    job["attempts"], self.max_attempts)
        job.update(state="queued", owner=None, frames_done=0, fps=0.0, eta_s=None, updated_at=now)
        self._write(job)

    def _ended(self, state: str) -> None:
        if self.on_end is not None:
            self.on_end(state)

    def _end(self, job: dict[str, Any], now: float, state: str, **fields: Any) -> None:
        job.update(fields, state=state, owner=None, updated_at=now, finished_at=now, expires_at=now + self.ttl_s)
        (self.root / job["id"] / INPUT_FILE).unlink(missing_ok=True)  # the result is what is kept
        self._ended(state)  # counted before a client can see it
        self._write(job)

    def _owned(self, job_id: str, owner: Owner) -> dict[str, Any] | None:
        job = self.read(job_id)
        if job is None or job["state"] != "running" or (job.get("owner") or {}).get("token") != owner.token:
            return None
        return job

    def update(self, job_id: str, owner: Owner, **fields: Any) -> dict[str, Any] | None:
        """Progress and a heartbeat of a running job; None when it is no longer ``owner``'s (recovered by
        another worker, or deleted). The job returned says ``cancel`` when a DELETE asked to stop it."""
        with self.locked():
            job = self._owned(job_id, owner)
            if job is not None:
                now = time.time()
                job.update(fields, heartbeat=now, updated_at=now)
                self._write(job)
            return job

    def finish(self, job_id: str, owner: Owner, state: str, **fields: Any) -> None:
        """End ``owner``'s running job as done or failed (or remove it if it was cancelled meanwhile)."""
        with self.locked():
            job = self._owned(job_id, owner)
            if job is None:
                return
            if job.get("cancel"):
                self._ended("cancelled")
                shutil.rmtree(self.root / job_id, ignore_errors=True)
                return
            self._end(job, time.time(), state, **fields)

    def release(self, job_id: str, owner: Owner) -> None:
        """Queue ``owner``'s running job again without counting the attempt (this worker is shutting down)."""
        with self.locked():
            job = self._owned(job_id, owner)
            if job is not None:
                job.update(state="queued", owner=None, attempts=job["attempts"] - 1, frames_done=0, fps=0.0,
                           eta_s=None, updated_at=time.time())
                self._write(job)

    def discard(self, job_id: str, owner: Owner) -> None:
        """Remove ``owner``'s running job, cancelled by a DELETE, and its files."""
        with self.locked():
            if self._owned(job_id, owner) is None:
                return
            self._ended("cancelled")
            shutil.rmtree(self.root / job_id, ignore_errors=True)

    def cancel(self, job_id: str) -> str | None:
        """DELETE: a running job is marked to stop (its runner removes it), any other removed now; the job's state
        before, or None for an unknown id."""
        with self.locked():
            job = self.read(job_id)
            if job is None or job.get("cancel"):
                return None
            if job["state"] == "running":
                job.update(cancel=True, updated_at=time.time())
                self._write(job)
            else:
                if job["state"] == "queued":
                    self._ended("cancelled")
                shutil.rmtree(self.root / job_id, ignore_errors=True)
        return job["state"]

    def sweep(self, now: float | None = None) -> int:
        """Remove finished jobs past their expiry and uploads abandoned by a dead worker; how many."""
        if not self.root.is_dir():
            return 0
        now = time.time() if now is None else now
        removed = 0
        with self.locked():
            for entry in os.listdir(self.root):
                folder = self.root / entry
                if not ID_PATTERN.fullmatch(entry) or not folder.is_dir():
                    continue
                job = self.read(entry)
                if job is None:
                    expired = now - _last_change(folder) > ABANDONED_UPLOAD_S
                else:
                    expired = job["state"] in FINISHED and job.get("expires_at", now) <= now
                if expired:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
        return removed


def _last_change(folder: Path) -> float:
    """The newest modification time of a folder and its files (one may vanish meanwhile)."""
    times = []
    try:
        paths = [folder, *folder.iterdir()]
    except FileNotFoundError:
        return time.time()
    for path in paths:
        try:
            times.append(path.stat().st_mtime)
        except FileNotFoundError:
            pass
    return max(times, default=time.time())

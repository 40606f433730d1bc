"""One runner thread per worker: it claims the oldest queued video job, colours it with the worker's model, writes
its progress and a heartbeat to job.json, and sweeps expired jobs.

The model runs a batch at a time under the worker's inference gate (model_service/gate.py), the slot the
photo routes take: a colorizer from colorize.engine is not safe to call from two threads at once (OpenVINO's
infer requests, PyTorch's fallback state), and a photo waits at most one batch behind a video.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from colorize.video import Cancelled, VideoError, VideoLimits, colorize_video
from model_service.gate import Busy, InferenceGate
from model_service.registry import ModelRegistry, UnknownModel
from model_service.videos.store import INPUT_FILE, RESULT_FILE, JobStore, Owner, this_process

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0  # job.json is rewritten at most this often for progress
SWEEP_EVERY_S = 60.0
BUSY_RETRY_S = 0.2  # a full gate (photos queued) is tried again this often: photos go first
INTERNAL_ERROR = ("internal_error", "colouring the video failed unexpectedly; the service logged the details")


class GatedModel:
    """A colorizer whose every call takes a slot of ``gate``; Cancelled if ``stopping()`` while the gate is full."""

    def __init__(self, model: Any, gate: InferenceGate, stopping: Callable[[], bool]):
        self.model, self.gate, self.stopping = model, gate, stopping

    def __getattr__(self, name: str) -> Any:  # metadata, config, parameters(): the colorizer's own
        return getattr(self.model, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        while True:
            try:
                with self.gate.slot():
                    return self.model(*args, **kwargs)
            except Busy:
                if self.stopping():
                    raise Cancelled("stopped while waiting for the model") from None
                time.sleep(BUSY_RETRY_S)


class Attempt:
    """One run of one job: progress and heartbeats written for it, and why it should stop (if it should)."""

    def __init__(self, store: JobStore, job: dict[str, Any], owner: Owner, shutdown: threading.Event):
        self.store, self.job_id, self.owner, self.shutdown = store, job["id"], owner, shutdown
        self.started = time.monotonic()
        self.frames = (0, int(job.get("frames_total") or 0))
        self.written = 0.0
        self.cancelled = self.lost = False
        self.finished = threading.Event()
        self._lock = threading.Lock()

    def progress(self, done: int, total: int) -> None:
        self.frames = (done, total)
        if time.monotonic() - self.written >= PROGRESS_EVERY_S:
            self.write()

    def write(self) -> None:
        """Progress and a heartbeat into job.json; notes a DELETE (cancel) or a job no longer ours (lost)."""
        with self._lock:
            done, total = self.frames
            elapsed = time.monotonic() - self.started
            fps = done / elapsed if elapsed > 0 else 0.0
            eta = round((total - done) / fps, 1) if fps > 0 and total >= done else None
            job = self.store.update(self.job_id, self.owner, frames_done=done, frames_total=total,
                                    fps=round(fps, 2), eta_s=eta)
            self.written = time.monotonic()
            if job is None:
                self.lost = True
            elif job.get("cancel"):
                self.cancelled = True

    def stopping(self) -> bool:
        return self.cancelled or self.lost or self.shutdown.is_set()

    def beat(self, interval: float) -> None:
        """Heartbeats until the attempt ends, so a slow batch never looks like a dead worker."""
        while not self.finished.wait(interval):
            self.write()


class VideoRunner:
    """Claims and colours video jobs in a thread (``start``); ``run_once`` runs one in the caller's thread."""

    def __init__(self, store: JobStore, models: ModelRegistry, limits: VideoLimits, poll_s: float = 1.0,
                 threads: int = 0):
        self.store, self.models, self.limits, self.poll_s = store, models, limits, poll_s
        self.threads = threads  # the encoder's: this worker's share of the cores, as the model's (MODEL_THREADS)
        self.owner = this_process()
        self.heartbeat_s = store.stale_s / 6
        self.on_poll: Callable[[], None] | None = None  # called after each look for work (the queued gauge)
        self._shutdown = threading.Event()
        self._next_sweep = 0.0
        self.thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        """The runner's thread; it holds the runner weakly, so an app that is dropped (tests) takes it along."""
        self.thread = threading.Thread(target=_loop, args=(weakref.ref(self),), name="video-runner", daemon=True)
        self.thread.start()
        atexit.register(_stop, weakref.ref(self))  # a worker exiting cleanly hands its job back, not dying with it
        return self.thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; a job running is queued again (not counted as an attempt) at its next batch."""
        self._shutdown.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def poll(self) -> bool:
        """Sweep now and then, run a job if one waits; whether one ran."""
        ran = False
        try:
            if time.monotonic() >= self._next_sweep:
                self.store.sweep()
                self._next_sweep = time.monotonic() + SWEEP_EVERY_S
            ran = self.run_once()
            if self.on_poll is not None:
                self.on_poll()
        except Exception:  # noqa: BLE001 - the folder may be unreadable for a while; the runner carries on
            log.exception("video runner")
        return ran

    def run_once(self) -> bool:
        """Claim the oldest queued job and colour it; False when there was none (or the models are not ready)."""
        if not self.models.ready or self._shutdown.is_set():
            return False
        job = self.store.claim(self.owner)
        if job is None:
            return False
        log.info("video job %s: attempt %d", job["id"], job["attempts"])
        attempt = Attempt(self.store, job, self.owner, self._shutdown)
        beats = threading.Thread(target=attempt.beat, args=(self.heartbeat_s,), name="video-heartbeat", daemon=True)
        beats.start()
        try:
            self._colour(job, attempt)
        finally:
            attempt.finished.set()
            beats.join()
        return True

    def _colour(self, job: dict[str, Any], attempt: Attempt) -> None:
        options, folder = job["options"], self.store.folder(job["id"])
        try:
            predictor = self.models.get(options.get("model"))
            model = GatedModel(predictor.model, predictor.gate, attempt.stopping)
            report = colorize_video(folder / INPUT_FILE, folder / RESULT_FILE, model,
                                    render_size=options.get("render_size") or predictor.render_size,
                                    stabilize=options.get("stabilize", True), vividness=options.get("vividness"),
                                    limits=self.limits, progress=attempt.progress, should_stop=attempt.stopping,
                                    threads=self.threads)
        except Cancelled:
            if attempt.cancelled:
                self.store.discard(job["id"], self.owner)
            elif not attempt.lost:  # shutting down: another worker takes it
                self.store.release(job["id"], self.owner)
            return
        except UnknownModel as exc:  # the service was restarted with other models since it was queued
            self._fail(job, "unknown_model", f"the model it was queued for is not served any more: {exc}")
            return
        except VideoError as exc:
            self._fail(job, exc.code, exc.message)
            return
        except Exception:  # noqa: BLE001 - the job fails with a reason; the worker and its runner carry on
            log.exception("video job %s failed", job["id"])
            self._fail(job, *INTERNAL_ERROR)
            return
        log.info("video job %s: %d frames in %.1f s (%.1f fps), audio %s", job["id"], report.frames, report.seconds,
                 report.fps, report.audio)
        self.store.finish(job["id"], self.owner, "done", frames_done=report.frames, frames_total=report.frames,
                          fps=round(report.fps, 2), eta_s=0.0, audio=report.audio, cuts=report.cuts,
                          timings_ms=report.timings_ms)

    def _fail(self, job: dict[str, Any], code: str, message: str) -> None:
        log.warning("video job %s failed: %s: %s", job["id"], code, message)
        self.store.finish(job["id"], self.owner, "failed", error={"code": code, "message": message})


def _loop(ref: weakref.ref) -> None:
    while (runner := ref()) is not None and not runner._shutdown.is_set():
        ran, shutdown, wait = runner.poll(), runner._shutdown, runner.poll_s
        del runner  # not held while idle
        if not ran:
            shutdown.wait(wait)


def _stop(ref: weakref.ref) -> None:
    runner = ref()
    if runner is not None:
        runner.stop()

"""The videos of a ``colorize predict`` run: coloured one at a time, each with a progress bar in frames.

One at a time, whatever ``--jobs`` says: a video already keeps every core busy (the network on batches of
frames, the decoder's and x264's own threads), so two at once would not finish sooner but would hold two
batches of frames and two encoders in memory. And with one encoder at a time, two never write one output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from colorize.batch import Item, Summary, triage
from colorize.hints import Hint, HintError
from colorize.video.colour import colorize_video
from colorize.video.probe import VideoError, VideoLimits, probe


class FrameProgress:
    """One video's frames: a tqdm bar (with its ETA) on a terminal; elsewhere (a Job's log) a line a minute
    saying how far it is and how long is left, and a line when it ends."""

    def __init__(self, name: str, total: int, interval_s: float = 60.0):
        self.name, self.total, self.interval_s = name, total, interval_s
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total or None, unit="frame", desc=name, file=sys.stderr)
        self.start = self.last = time.monotonic()
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        """colorize_video's progress: frames done of ``total`` (0: unknown)."""
        step, self.done = done - self.done, done
        self.total = max(self.total, total)
        if self.bar is not None:
            if self.total and self.bar.total != self.total:
                self.bar.total = self.total
            self.bar.update(step)
        elif time.monotonic() - self.last >= self.interval_s:
            self.last = time.monotonic()
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        """How far the video is: frames, frames a second and, when the total is known, the time left."""
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.done / elapsed
        text = f"{self.name}: {self.done:,} of {self.total:,} frames" if self.total else \
            f"{self.name}: {self.done:,} frames"
        text += f", {rate:.1f} frames/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        return text

    def close(self, outcome: str) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            print(f"{self.line()}: {outcome}", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s" if minutes else \
        f"{seconds} s"


def run_videos(items: list[Item], model, *, render_size: int | None = None, stabilize: bool = True,
               vividness: float | None = None, hints: list[Hint] | None = None, overwrite: bool = False,
               limits: VideoLimits | None = None,
               progress: Callable[[str, int], FrameProgress] = FrameProgress) -> Summary:
    """Colour the videos ``items`` into their targets (MP4), one after another; an output that exists is
    skipped unless ``overwrite``; a video that fails (its reason in the summary) never stops the others.
    colorize_video writes under a temporary name and renames when whole, so an output is never half a film."""
    summary = Summary()
    todo = triage(items, summary, overwrite)
    for number, item in enumerate(todo, 1):
        name = f"{item.key} ({number} of {len(todo)})" if len(todo) > 1 else item.key
        try:
            info = probe(item.source, limits)
        except VideoError as exc:
            summary.failed.append((item, exc.message))
            continue
        except OSError as exc:
            summary.failed.append((item, f"cannot open ({exc.strerror or exc})"))
            continue
        bar, outcome = progress(name, info.frames), "failed"
        try:
            item.target.parent.mkdir(parents=True, exist_ok=True)
            report = colorize_video(item.source, item.target, model, render_size=render_size, stabilize=stabilize,
                                    vividness=vividness, hints=hints, limits=limits, info=info, progress=bar)
            outcome = f"done in {_duration(report.seconds)}, {report.cuts} scene cuts, audio {report.audio}"
        except (VideoError, HintError) as exc:  # a stream that breaks off; a hint outside the frame
            summary.failed.append((item, str(exc)))
        except OSError as exc:
            summary.failed.append((item, f"cannot read it or write {item.target} ({exc.strerror or exc})"))
        except Exception as exc:  # noqa: BLE001 - one film's surprise must not end the others
            summary.failed.append((item, f"failed ({type(exc).__name__}: {exc})"))
        else:
            summary.done.append(item)
        finally:
            bar.close(outcome)
    summary.failed.sort(key=lambda failure: str(failure[0].source))
    return summary

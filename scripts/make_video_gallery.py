"""The README's film still: an old photo filmed as old film is (a slow pan, grain, an exposure that pumps),
coloured by the default model frame by frame and stabilised, three frames (first, middle, last) side by side per row.

    python -m scripts.make_video_gallery --out docs/gallery/film

The photo is fixed in advance (Detroit, circa 1915: a street of facades, signs and people, where a per-frame
answer's colour wanders most visibly). Rows: the grey film, each frame's own answer (stabilize=False), the
stabilised answer. Along a row the camera moves: the same facade should keep its colour.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from benchmarks.video.clips import Clip, pan, read_photo
from colorize import SHIPPED_CHECKPOINTS
from colorize.engine import load_colorizer
from colorize.video import colorize_video

PHOTO = Path("../shared/data/oldphotos/Detroit circa 1915.jpg")
FRAMES = 100
SHOWN = (0, 49, 99)


def frames_of(path: Path, keep: tuple[int, ...]) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in keep]


def sheet(rows: list[tuple[str, list[np.ndarray]]], width: int) -> Image.Image:
    """Rows of frames, each labelled on its left, scaled so the sheet is ``width`` pixels wide."""
    label_w, gap = 190, 4
    h, w = rows[0][1][0].shape[:2]
    out = Image.new("RGB", (label_w + len(rows[0][1]) * (w + gap), len(rows) * (h + gap)), "white")
    draw = ImageDraw.Draw(out)
    for r, (label, frames) in enumerate(rows):
        draw.text((8, r * (h + gap) + h // 2 - 20), label, fill="black", font_size=26)
        for c, frame in enumerate(frames):
            out.paste(Image.fromarray(frame), (label_w + c * (w + gap), r * (h + gap)))
    return out.resize((width, round(out.height * width / out.width)), Image.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/gallery/film"))
    parser.add_argument("--photo", type=Path, default=PHOTO)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    clip = Clip([pan(read_photo(args.photo), FRAMES, speed=2.0)], name=args.photo.stem)
    model = load_colorizer(SHIPPED_CHECKPOINTS[0], precision="auto", runtime="auto")
    with tempfile.TemporaryDirectory() as work:
        grey = clip.write(Path(work) / "grey.mp4")
        rows = [("grey film", frames_of(grey, SHOWN))]
        for label, stabilize in (("each frame\nalone", False), ("stabilised", True)):
            out = Path(work) / f"{stabilize}.mp4"
            colorize_video(grey, out, model, stabilize=stabilize)
            rows.append((label, frames_of(out, SHOWN)))
    sheet(rows, 1400).save(args.out / "strip.jpg", quality=88)
    Image.fromarray(rows[-1][1][2]).save(args.out / "still.jpg", quality=90)
    print(f"wrote {args.out / 'strip.jpg'} and {args.out / 'still.jpg'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

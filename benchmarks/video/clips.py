"""Clips whose colour truth is known, made from colour photos: the camera pans or zooms across a photo, or
cuts from one photo to another, and the film is grey, grainy and flickers in exposure as old film does.

Each frame is given by a known affine map from output pixels (x, y) to photo coordinates (u, v) (pixel
centres at integers on both sides), so the truth is known exactly: the photo's ab seen through that frame's
map, and the motion from any frame to the one before it is the composition of two maps. The input is the
photo's lightness through the map, times a per-frame gain (exposure flicker), plus film grain (Gaussian
noise in L), written as a grey H.264 MP4 (studio range, BT.709 tags, as a scanned film would come).
Nothing here is stored as video: a clip is made again from its photo and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize import lab

SIZE_480P = (854, 480)
SIZE_1080P = (1920, 1080)
# Grain and flicker of a worn print: visible noise in the lightness and an exposure that pumps by a few
# per cent from frame to frame, enough to move a per-frame colorizer's answer.
DEFAULT_GRAIN = 3.0  # standard deviation, L units (0-100)
DEFAULT_FLICKER = 0.04  # standard deviation of the per-frame gain around 1
_FILL = 0.8  # a pan's window is this share of the largest 16:9 window the photo holds: room to move


@dataclass
class Shot:
    """One photo and, per frame, the 2 x 3 map from output pixels to the photo's pixels."""

    photo: np.ndarray  # (H, W, 3) float32 LAB
    maps: list[np.ndarray]
    name: str = ""


@dataclass
class Clip:
    shots: list[Shot]
    size: tuple[int, int] = SIZE_480P  # output width, height
    rate: int = 25
    grain: float = DEFAULT_GRAIN
    flicker: float = DEFAULT_FLICKER
    seed: int = 0
    kind: str = "pan"
    name: str = ""
    _index: list[tuple[int, int]] = field(init=False, repr=False)

    def __post_init__(self):
        self._index = [(s, i) for s, shot in enumerate(self.shots) for i in range(len(shot.maps))]

    @property
    def frames(self) -> int:
        return len(self._index)

    @property
    def cuts(self) -> list[int]:
        """The frames that start a new shot (the first frame is not a cut)."""
        starts, total = [], 0
        for shot in self.shots[:-1]:
            total += len(shot.maps)
            starts.append(total)
        return starts

    def map(self, t: int) -> np.ndarray:
        shot, i = self._index[t]
        return self.shots[shot].maps[i]

    def _render(self, t: int, channels: slice) -> np.ndarray:
        import cv2

        shot, i = self._index[t]
        photo = np.ascontiguousarray(self.shots[shot].photo[..., channels])
        out = cv2.warpAffine(photo, self.shots[shot].maps[i], self.size,
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        return out.reshape(self.size[1], self.size[0], -1)

    def truth_ab(self, t: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """The photo's ab seen through frame ``t`` (2, H, W) float32; ``size``: reduced to that (width,
        height) by area, as the network's input is (a window rendered small directly would alias)."""
        import cv2

        ab = self._render(t, slice(1, 3))
        if size is not None and tuple(size) != tuple(self.size):
            ab = cv2.resize(ab, tuple(size), interpolation=cv2.INTER_AREA)
        return ab.transpose(2, 0, 1).copy()

    def lightness(self, t: int) -> np.ndarray:
        """Frame ``t``'s lightness as filmed (H, W) float32: the photo's L, the frame's gain, the grain."""
        rng = np.random.default_rng((self.seed, t))
        gain = 1.0 + self.flicker * rng.standard_normal()
        grain = self.grain * rng.standard_normal(self.size[::-1], dtype=np.float32)
        return np.clip(self._render(t, slice(0, 1))[..., 0] * gain + grain, 0.0, 100.0)

    def grey(self, t: int) -> np.ndarray:
        """Frame ``t`` as 8-bit sRGB grey codes (H, W) uint8."""
        lightness = torch.from_numpy(self.lightness(t))
        zero = torch.zeros_like(lightness)
        return lab.lab_to_srgb8(lightness, zero, zero)[..., 0].numpy()

    def write(self, path: str | Path, crf: int = 16, preset: str = "veryfast") -> Path:
        """The grey input as an H.264 MP4, frame by frame (memory does not grow with the length)."""
        import av

        path = Path(path)
        width, height = self.size
        with av.open(str(path), "w", format="mp4") as output:
            stream = output.add_stream("libx264", rate=self.rate, options={"crf": str(crf), "preset": preset})
            context = stream.codec_context
            context.width, context.height, context.pix_fmt = width, height, "yuv420p"
            context.time_base = stream.time_base = Fraction(1, self.rate)
            context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
            context.color_range = 1  # studio
            for t in range(self.frames):
                frame = av.VideoFrame(width, height, "yuv420p")
                studio = (16.0 + self.grey(t) * (219.0 / 255.0)).round().astype(np.uint8)
                for plane, value in zip(frame.planes, (studio, 128, 128), strict=True):
                    view = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                    view[:, : plane.width] = value
                frame.pts, frame.time_base, frame.color_range = t, context.time_base, 1
                output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
        return path


def read_photo(path: str | Path) -> np.ndarray:
    """A colour photo as LAB (H, W, 3) float32."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return lab.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)).permute(1, 2, 0).contiguous().numpy()


def _window(photo: np.ndarray, size: tuple[int, int], fill: float) -> float:
    """The height (photo pixels) of a window with the output's aspect that ``fill`` of the photo holds."""
    height, width = photo.shape[:2]
    return fill * min(height - 1, (width - 1) * size[1] / size[0])


def pan(photo: np.ndarray, frames: int, size: tuple[int, int] = SIZE_480P, speed: float = 3.0,
        angle: float = 0.0, name: str = "") -> Shot:
    """The camera moves ``speed`` output pixels a frame at ``angle`` degrees (0: to the right), centred in
    the room the photo leaves (slower where the photo leaves less)."""
    scale = _window(photo, size, _FILL) / (size[1] - 1)  # photo pixels per output pixel
    room = np.array([photo.shape[1] - 1 - scale * (size[0] - 1), photo.shape[0] - 1 - scale * (size[1] - 1)])
    direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    travel = direction * speed * scale * max(frames - 1, 1)
    fits = min([1.0] + [room[k] / abs(travel[k]) for k in range(2) if abs(travel[k]) > 1e-9])
    travel *= fits
    start = (room - travel) / 2
    maps = []
    for t in range(frames):
        u, v = start + travel * (t / max(frames - 1, 1))
        maps.append(np.array([[scale, 0.0, u], [0.0, scale, v]]))
    return Shot(photo, maps, name)


def zoom(photo: np.ndarray, frames: int, size: tuple[int, int] = SIZE_480P, factor: float = 1.25,
         name: str = "") -> Shot:
    """The camera closes in on the photo's centre, ``factor`` times closer by the last frame."""
    centre_out = (np.array(size, dtype=np.float64) - 1) / 2
    centre_in = (np.array(photo.shape[1::-1], dtype=np.float64) - 1) / 2
    maps = []
    for t in range(frames):
        scale = _window(photo, size, 0.95) / (size[1] - 1) / factor ** (t / max(frames - 1, 1))
        maps.append(np.array([[scale, 0.0, centre_in[0] - scale * centre_out[0]],
                              [0.0, scale, centre_in[1] - scale * centre_out[1]]]))
    return Shot(photo, maps, name)


def still(photo: np.ndarray, frames: int, size: tuple[int, int] = SIZE_480P, name: str = "") -> Shot:
    """A camera that does not move."""
    return pan(photo, frames, size, speed=0.0, name=name)


def standard_clips(photos: list[tuple[str, np.ndarray]], frames: int, size: tuple[int, int] = SIZE_480P,
                   seed: int = 0, **film) -> list[Clip]:
    """Per photo a pan (its direction from the seed) and a zoom; and per pair of photos in turn a cut from a
    pan across the one to a pan across the next, half the frames each."""
    rng = np.random.default_rng(seed)
    clips = []
    for k, (name, photo) in enumerate(photos):
        angle = float(rng.choice([0.0, 180.0, 30.0, -30.0, 150.0, 210.0]))
        clips.append(Clip([pan(photo, frames, size, angle=angle, name=name)], size, seed=seed + k, kind="pan",
                          name=f"{name} pan", **film))
        clips.append(Clip([zoom(photo, frames, size, name=name)], size, seed=seed + k, kind="zoom",
                          name=f"{name} zoom", **film))
    for k in range(0, len(photos) - 1, 2):
        (first, a), (second, b) = photos[k], photos[k + 1]
        shots = [pan(a, frames // 2, size, name=first), pan(b, frames - frames // 2, size, angle=180.0, name=second)]
        clips.append(Clip(shots, size, seed=seed + 1000 + k, kind="cut", name=f"{first} | {second}", **film))
    return clips


def long_clip(photos: list[np.ndarray], frames: int, size: tuple[int, int] = SIZE_480P, shot_frames: int = 250,
              seed: int = 0) -> Clip:
    """A clip of any length for memory: shots of ``shot_frames`` across the photos in turn, panning one way
    and back."""
    shots, made = [], 0
    while made < frames:
        n = min(shot_frames, frames - made)
        shots.append(pan(photos[len(shots) % len(photos)], n, size, angle=180.0 * (len(shots) % 2)))
        made += n
    return Clip(shots, size, seed=seed, kind="long")


def resized(clip: Clip, size: tuple[int, int]) -> Clip:
    """The same clip filmed at another size: each map composed with the scaling between the two sizes."""
    kx, ky = clip.size[0] / size[0], clip.size[1] / size[1]
    scaling = np.array([[kx, 0.0, (kx - 1) / 2], [0.0, ky, (ky - 1) / 2], [0.0, 0.0, 1.0]])
    shots = [replace(shot, maps=[m @ scaling for m in shot.maps]) for shot in clip.shots]
    return replace(clip, shots=shots, size=size)



def textured_photo(seed: int, width: int = 240, height: int = 180) -> np.ndarray:
    """A made-up colour photo (LAB (H, W, 3) float32) with texture to follow, for tests and smoke runs."""
    import cv2

    rng = np.random.default_rng(seed)
    planes = [cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 3.0)
              for _ in range(3)]
    planes = [p / max(float(p.std()), 1e-6) for p in planes]
    return np.stack([np.clip(50 + 15 * planes[0], 5, 95), 25 * planes[1], 25 * planes[2]], -1).astype(np.float32)

"""Colour that stays put from frame to frame: the predicted ab carried along optical flow.

A per-frame colorizer answers each frame afresh, so grain, an exposure that flickers and a camera that moves
change its colours where the scene did not change (the flicker DeOldify and DDColor users report). Following
the blind temporal consistency of Bonneel et al. 2015 (Blind Video Temporal Consistency, SIGGRAPH Asia) and
the warping error of Lai et al. 2018 (Learning Blind Video Temporal Consistency, ECCV), each frame's output is
a blend of the network's ab and the previous output warped onto it, at the network's small render size:

- backward and forward flow between the two frames' lightness (OpenCV's DIS flow, which normalises each
  patch's mean, so an exposure flicker does not move it);
- a pixel follows the previous output only where the flow is consistent (its forward-backward round trip
  lands near its start, as Sundaram et al. 2010 test occlusions) and the lightness agrees after warping
  (each frame standardised, so a change of exposure is not a change of content);
- ``weight`` of the warped colour there (a recursive average over about 1 / (1 - weight) frames), none
  elsewhere: what appears, moves alone or changes is the network's own answer;
- a scene cut (few pixels that follow) starts afresh.

The constants were chosen on held-out clips (python -m benchmarks.video.tune: pans, zooms and cuts made from
photos the default model never trained on, with grain and exposure flicker; benchmarks/RESULTS.md, "Video"):

- DEFAULT_WEIGHT: the higher, the steadier, and on those clips the closer to the truth too (averaging
  frames averages the network's jitter away); it stops where the memory is still a fraction of a second,
  because those clips move only the camera, and something that moves on its own and passes both checks
  keeps its old colour the longer the higher the weight.
- _ROUND_TRIP: Sundaram et al.'s test (a round trip within a share of the motion, plus a constant) with a
  constant for heavy grain: where the ground is flat the flow of a grainy film is noise and its round trip
  misses by a pixel or so, though the colour there is flat and safe to carry; with the paper's constant a
  heavily grainy frame lost many of its pixels to the test, and came near to counting as a cut.
- _LIGHTNESS_TOLERANCE: grain and exposure flicker move the standardised lightness by a small fraction of
  this, new content by much more.
- CUT_FOLLOWING: within a shot nearly every pixel follows (most, even under heavy grain and flicker), across
  a cut nearly none: the threshold sits well between the two.
"""

from __future__ import annotations

import functools

import numpy as np

DEFAULT_WEIGHT = 0.9
CUT_FOLLOWING = 0.3  # a frame where under this share of pixels follows the previous one starts a new shot
_LIGHTNESS_TOLERANCE = 0.35  # standard deviations of the frame's lightness
_ROUND_TRIP = (0.01, 2.0)  # a consistent round trip misses by under: share x the motion (px²) + constant (px²)


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    return grid_y, grid_x


class Stabilizer:
    """Feed frames in order: ``step(lightness, ab)`` with the render-size L (h, w) in [0, 100] and the
    network's ab (2, h, w); returns the ab to show. ``cuts`` counts the scene cuts seen. The keywords are the
    module's constants (benchmarks.video.tune tries others)."""

    def __init__(self, weight: float = DEFAULT_WEIGHT, tolerance: float = _LIGHTNESS_TOLERANCE,
                 cut_following: float = CUT_FOLLOWING, round_trip: float = _ROUND_TRIP[1]):
        import cv2

        self.cv2, self.weight, self.tolerance, self.cut_following = cv2, weight, tolerance, cut_following
        self.round_trip = round_trip
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.cuts = 0
        self.following = 1.0  # the share of pixels that followed, last frame

    def reset(self) -> None:
        self.previous = None

    @staticmethod
    def _standard(lightness: np.ndarray) -> np.ndarray:
        return (lightness - lightness.mean()) / max(float(lightness.std()), 1.0)

    def _warp(self, image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        return self.cv2.remap(image, map_x, map_y, self.cv2.INTER_LINEAR, borderMode=self.cv2.BORDER_REPLICATE)

    def step(self, lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
        lightness = np.ascontiguousarray(lightness, dtype=np.float32)
        ab = np.ascontiguousarray(ab, dtype=np.float32)
        codes = np.clip(lightness * 2.55, 0, 255).astype(np.uint8)
        standard = self._standard(lightness)
        if self.previous is None:
            self.previous = (codes, standard, ab)
            return ab
        prev_codes, prev_standard, prev_ab = self.previous
        backward = self.flow.calc(codes, prev_codes, None)  # where each pixel of this frame was
        forward = self.flow.calc(prev_codes, codes, None)
        h, w = codes.shape
        grid_y, grid_x = _grid(h, w)
        map_x, map_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        forward_back = self._warp(forward, map_x, map_y)  # where the previous pixel went
        round_trip = backward + forward_back
        motion = (backward ** 2).sum(-1) + (forward_back ** 2).sum(-1)
        consistent = (round_trip ** 2).sum(-1) < _ROUND_TRIP[0] * motion + self.round_trip
        agrees = np.abs(standard - self._warp(prev_standard, map_x, map_y)) < self.tolerance
        follows = (inside & consistent & agrees).astype(np.float32)
        self.following = float(follows.mean())
        if self.following < self.cut_following:
            self.cuts += 1
            self.previous = (codes, standard, ab)
            return ab
        follows = self.cv2.GaussianBlur(follows, (5, 5), 0)  # no hard seams where following stops
        warped = np.stack([self._warp(prev_ab[c], map_x, map_y) for c in range(2)])
        out = ab + (self.weight * follows) * (warped - ab)
        self.previous = (codes, standard, out)
        return out

import numpy as np
import pytest
import torch
from skimage import color, data

from colorize import lab


def _to_nchw(rgb_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb_hwc).permute(2, 0, 1).unsqueeze(0)


@pytest.mark.parametrize("name", ["random", "astronaut", "coffee", "chelsea"])
def test_rgb_to_lab_matches_scikit_image(name):
    if name == "random":
        rgb = np.random.default_rng(0).random((64, 80, 3))
    else:  # real photographs shipped with scikit-image
        rgb = getattr(data, name)()[..., :3] / 255.0
    want = color.rgb2lab(rgb)
    got = lab.rgb_to_lab(_to_nchw(rgb.astype(np.float32)))[0].permute(1, 2, 0).numpy()
    assert np.abs(got - want).max() < 1e-3


def test_rgb_to_lab_covers_extremes():
    rgb = np.array([[[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1e-4, 2e-3, 0.04]]])
    got = lab.rgb_to_lab(_to_nchw(rgb.astype(np.float32)))[0].permute(1, 2, 0).numpy()
    assert np.abs(got - color.rgb2lab(rgb)).max() < 1e-3
    assert got[0, 1, 0] == pytest.approx(100.0, abs=1e-3)  # white is L = 100


def test_lab_to_rgb_matches_scikit_image_including_out_of_gamut():
    rng = np.random.default_rng(1)
    labs = np.stack([rng.uniform(0, 100, (40, 40)), rng.uniform(-128, 127, (40, 40)),
                     rng.uniform(-128, 127, (40, 40))], -1)
    with pytest.warns(UserWarning):  # scikit-image warns about the negative Z it clips
        want = color.lab2rgb(labs)
    got = lab.lab_to_rgb(_to_nchw(labs.astype(np.float32)))[0].permute(1, 2, 0).numpy()
    assert np.abs(got - want).max() < 1e-4
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_lab_to_srgb8_matches_scikit_image_to_one_level():
    rng = np.random.default_rng(2)
    labs = np.stack([rng.uniform(0, 100, (120, 90)), rng.uniform(-128, 127, (120, 90)),
                     rng.uniform(-128, 127, (120, 90))], -1)
    labs[0, :3] = [[0, 0, 0], [100, 0, 0], [50, 0, 0]]  # black, white, mid grey
    with pytest.warns(UserWarning):
        want = np.round(color.lab2rgb(labs) * 255).astype(int)
    planes = torch.from_numpy(labs.astype(np.float32)).unbind(-1)
    got = lab.lab_to_srgb8(*planes)
    assert got.dtype == torch.uint8 and got.shape == (120, 90, 3)
    diff = np.abs(got.numpy().astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert got[0, 0].tolist() == [0, 0, 0] and got[0, 1].tolist() == [255, 255, 255]
    assert len(set(got[0, 2].tolist())) == 1  # grey stays grey


def test_round_trip_and_lightness_only():
    rgb = torch.rand(2, 3, 33, 17, dtype=torch.float64)
    labs = lab.rgb_to_lab(rgb)
    assert torch.allclose(lab.lab_to_rgb(labs), rgb, atol=1e-6)
    assert torch.allclose(lab.rgb_to_lightness(rgb), labs[:, :1], atol=1e-9)


def test_follows_dtype_and_accepts_unbatched():
    rgb = torch.rand(3, 5, 6, dtype=torch.float64)
    out = lab.rgb_to_lab(rgb)
    assert out.dtype == torch.float64 and out.shape == (3, 5, 6)
    assert lab.lab_to_rgb(out).dtype == torch.float64


def test_grey_has_no_colour_and_normalisation_round_trips():
    grey = torch.full((1, 3, 4, 4), 0.37)
    labs = lab.rgb_to_lab(grey)
    assert labs[:, 1:].abs().max() < 5e-3  # scikit-image's matrix and D65 white differ in the 4th digit
    ab = torch.randn(1, 2, 3, 3) * 50
    assert torch.allclose(lab.denormalize_ab(lab.normalize_ab(ab)), ab)
    assert lab.normalize_l(torch.tensor([0.0, 100.0])).tolist() == [-1.0, 1.0]


def test_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="3 channels"):
        lab.rgb_to_lab(torch.rand(1, 4, 2, 2))


def test_uint8_lightness_table_matches_the_formula():
    rgb8 = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    want = lab.rgb_to_lightness(rgb8.double() / 255)
    assert torch.allclose(lab.uint8_to_lightness(rgb8).double(), want, atol=2e-4)
    grey8 = rgb8[:1]
    want_grey = lab.rgb_to_lightness(grey8.expand(3, -1, -1).double() / 255)
    assert torch.allclose(lab.uint8_to_lightness(grey8).double(), want_grey, atol=2e-4)

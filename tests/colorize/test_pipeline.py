import io

import numpy as np
import pytest
import torch
from PIL import Image

from colorize import lab
from colorize.pipeline import colorize, render_shape
from tests.conftest import natural_image, random_colour_model


@pytest.fixture(scope="module")
def model():
    return random_colour_model("unet_resnet18")


def _lightness(img: Image.Image) -> np.ndarray:
    rgb = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    return lab.rgb_to_lightness(rgb)[0].numpy()


@pytest.mark.parametrize("size", [(1, 1), (7, 333), (3000, 20), (20, 3000), (65, 97)])
def test_output_has_input_size(model, size):
    h, w = size
    img = natural_image(h, w).convert("L")
    out = colorize(img, model, render_size=64)
    assert out.size == (w, h) and out.mode == "RGB"


def test_output_keeps_the_input_lightness_and_adds_colour(model):
    grey = natural_image(120, 160).convert("L")
    out = colorize(grey, model, render_size=64)
    assert np.abs(_lightness(out) - _lightness(grey)).mean() < 0.5
    arr = np.asarray(out, dtype=np.int16)
    assert np.abs(arr[..., 0] - arr[..., 1]).mean() > 1  # not grey: the random head predicts colour


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "CMYK", "I;16", "1"])
def test_modes(model, mode):
    base = natural_image(50, 70)
    if mode == "I;16":
        grey16 = (np.asarray(base.convert("L"), dtype=np.uint16) * 257)
        img = Image.fromarray(grey16)
        assert img.mode.startswith("I;16")
    elif mode == "LA":
        img = base.convert("L")
        img.putalpha(Image.new("L", img.size, 128))
    else:
        img = base.convert(mode)
    out = colorize(img, model, render_size=32)
    assert out.size == (70, 50)
    if mode in ("LA", "RGBA"):
        assert out.mode == "RGBA"
        assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(img.convert("RGBA").getchannel("A")))
    else:
        assert out.mode == "RGB"
    if mode in ("RGB", "I;16"):  # colour input is treated as its luminance
        want = _lightness(base.convert("L")) if mode == "I;16" else _lightness(base)
        assert np.abs(_lightness(out) - want).mean() < 0.5


def test_palette_transparency_is_kept(model):
    img = natural_image(30, 30).convert("P")
    img.info["transparency"] = 0
    out = colorize(img, model, render_size=32)
    assert out.mode == "RGBA"


def test_exif_orientation_is_applied(model):
    img = natural_image(40, 100)  # 100 wide, 40 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    loaded = Image.open(io.BytesIO(buf.getvalue()))
    out = colorize(loaded, model, render_size=32)
    assert out.size == (40, 100)


def test_network_runs_at_render_size_not_full_size(model):
    seen = []
    hook = model.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        img = Image.new("L", (4000, 3000), 128)  # 12 MP
        out = colorize(img, model, render_size=128)
    finally:
        hook.remove()
    assert out.size == (4000, 3000)
    assert seen == [(128, 171)]


def test_render_shape():
    assert render_shape(3000, 4000, 256) == (256, 341)
    assert render_shape(100, 100, 256) == (100, 100)  # never up-scaled
    assert render_shape(20, 3000, 256) == (5, 768)  # the long side is capped
    assert render_shape(1, 1, 256) == (1, 1)


def test_bf16_precision_path_runs(model):
    from colorize.engine import colorizer_for

    out = colorize(natural_image(64, 64).convert("L"), colorizer_for(model, precision="bf16"), render_size=64)
    assert out.size == (64, 64)


def test_strip_upsampling_equals_one_bilinear_pass(monkeypatch):
    import torch.nn.functional as F

    from colorize import pipeline

    monkeypatch.setattr(pipeline, "_STRIP_PIXELS", 97)  # many strips of a few rows
    lightness = torch.rand(1, 1, 61, 83) * 100
    ab_small = torch.randn(1, 2, 13, 17) * 30
    got = pipeline.join_lightness_ab(lightness, ab_small)
    ab = F.interpolate(ab_small, size=(61, 83), mode="bilinear", align_corners=False)
    want = (lab.lab_to_rgb(torch.cat((lightness, ab), 1))[0] * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16", "P", "F", "array16"])
def test_strip_made_lightness_equals_the_whole_photo_path(monkeypatch, mode):
    """The service never holds a whole-photo float L: the network's input and the join made from strips of
    the source give what the whole L tensor gives."""
    from colorize import pipeline

    monkeypatch.setattr(pipeline, "_STRIP_PIXELS", 500)  # many strips of a few rows
    base = natural_image(150, 110)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    elif mode == "F":
        image = Image.fromarray(np.asarray(base.convert("L"), dtype=np.float32) / 255)
    elif mode == "array16":
        image = np.asarray(base, dtype=np.uint16) * 257 + 7
    else:
        image = base.convert(mode)
    whole = pipeline.lightness_of(image)
    rows = pipeline.lightness_rows(image)
    assert rows.shape == whole.shape
    for render_size in (40, 150):
        want = pipeline.lightness_at_render_size(whole, render_size)
        got = pipeline.lightness_at_render_size(rows, render_size)
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-3)
    ab_small = torch.randn(1, 2, 13, 17) * 30
    for depth in (8, 16):
        assert np.array_equal(pipeline.join_lightness_ab(rows, ab_small, depth),
                              pipeline.join_lightness_ab(whole, ab_small, depth))


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"render_size": 128}, 128), ({"render_size": "96"}, 96), ({}, 256), (None, 256),
    ({"render_size": "big"}, 256), ({"render_size": None}, 256),
])
def test_recommended_render_size_comes_from_the_checkpoint(metadata, expected):
    from colorize.pipeline import recommended_render_size

    assert recommended_render_size(metadata) == expected


def test_colorize_upright_takes_the_pixels_as_they_are(model):
    from colorize.pipeline import colorize_upright

    img = natural_image(40, 100)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    out = colorize_upright(Image.open(io.BytesIO(buf.getvalue())), model, render_size=32)
    assert out.size == (100, 40)

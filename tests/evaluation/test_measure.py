"""evaluation.measure and training.data.open_rgb: photos opened upright, as every measuring tool opens them."""

import numpy as np
from PIL import Image

from evaluation.measure import load_photo, truth_tensor
from tests.conftest import natural_image
from training.data import open_rgb


def test_a_photo_is_opened_upright_as_rgb(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    natural_image(40, 100).convert("L").save(tmp_path / "p.jpg", exif=exif)
    rgb = open_rgb(tmp_path / "p.jpg")
    assert rgb.mode == "RGB" and rgb.size == (40, 100)
    assert load_photo(tmp_path / "p.jpg", upscale=2).size == (80, 200)


def test_truth_tensor_holds_the_pixels():
    photo = natural_image(6, 9)
    truth = truth_tensor(photo)
    assert truth.shape == (1, 3, 6, 9) and truth.dtype.is_floating_point
    assert np.array_equal(truth[0].permute(1, 2, 0).numpy(), np.asarray(photo))

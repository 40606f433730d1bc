import json

import numpy as np
import pytest
from PIL import Image
from skimage import color
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from evaluation import evaluate


@pytest.fixture(scope="module")
def bench(tmp_path_factory, image_folder):
    """Two small 'benchmark sets' of generated photos at odd sizes."""
    from tests.conftest import natural_image

    root = tmp_path_factory.mktemp("bench")
    for name, n in (("setA", 3), ("setB", 2)):
        (root / name).mkdir()
        for i in range(n):
            natural_image(45 + i * 7, 61 + i * 5, seed=10 * n + i).save(root / name / f"{i}.png")
    return root


def test_json_structure_and_grey_baseline_matches_scikit_image(tmp_path, bench, tiny_checkpoint):
    out_json, out_md = tmp_path / "e.json", tmp_path / "e.md"
    code = evaluate.main(["--checkpoint", tiny_checkpoint, "--data", str(bench / "setA"), str(bench / "setB"),
                          "--render-size", "32", "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 0
    result = json.loads(out_json.read_text())
    assert set(result["sets"]) == {"setA", "setB"}
    assert result["checkpoint"]["architecture"]["name"] == "unet_resnet18"
    for name, s in result["sets"].items():
        assert s["n"] == (3 if name == "setA" else 2)
        assert set(s["model"]) == set(s["grey"]) == {"mse", "psnr", "ssim", "colourfulness"}
        # independent grey baseline: scikit-image LAB with ab = 0, quantised to 8 bits
        psnrs, ssims = [], []
        for path in sorted((bench / name).iterdir()):
            truth = np.asarray(Image.open(path).convert("RGB"))
            lab = color.rgb2lab(truth)
            lab[..., 1:] = 0
            grey = np.round(color.lab2rgb(lab) * 255).astype(np.uint8)
            psnrs.append(peak_signal_noise_ratio(truth, grey, data_range=255))
            ssims.append(structural_similarity(truth, grey, data_range=255, channel_axis=-1,
                                               gaussian_weights=True, sigma=1.5, use_sample_covariance=False))
        assert s["grey"]["psnr"] == pytest.approx(np.mean(psnrs), abs=0.02)
        assert s["grey"]["ssim"] == pytest.approx(np.mean(ssims), abs=1e-3)
        assert s["grey"]["colourfulness"] < 1.0 < s["truth"]["colourfulness"]
        assert s["model"]["psnr"] != s["grey"]["psnr"]  # the random model does colour
    table = out_md.read_text()
    assert "grey baseline (ab = 0)" in table and "mean of sets" in table and "NTIRE 2019" in table


def test_grey_baseline_only_and_errors(tmp_path, bench, capsys):
    out_json = tmp_path / "g.json"
    assert evaluate.main(["--grey-baseline-only", "--data", str(bench / "setA"), "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert "model" not in result["sets"]["setA"] and result["checkpoint"] is None
    assert evaluate.main(["--data", str(bench / "setA")]) == 2
    assert evaluate.main(["--grey-baseline-only", "--data", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorize import metrics


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1).unsqueeze(0)


@pytest.fixture
def pair():
    truth = data.astronaut()[100:260, 120:300]
    rng = np.random.default_rng(0)
    noisy = np.clip(truth + rng.normal(0, 12, truth.shape), 0, 255).astype(np.uint8)
    return truth, noisy


def test_psnr_matches_scikit_image(pair):
    truth, noisy = pair
    want = peak_signal_noise_ratio(truth, noisy, data_range=255)
    assert metrics.psnr(_t(noisy), _t(truth)).item() == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_matches_scikit_image(pair, dtype):
    truth, noisy = pair
    want = structural_similarity(truth, noisy, data_range=255, channel_axis=-1, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False)
    got = metrics.ssim(_t(noisy).to(dtype), _t(truth).to(dtype)).item()
    assert got == pytest.approx(want, abs=1e-5)
    assert metrics.ssim(_t(truth), _t(truth)).item() == pytest.approx(1.0)


def test_ssim_is_differentiable_and_rejects_tiny_images():
    x = torch.rand(2, 2, 32, 32, requires_grad=True)
    metrics.ssim(x, torch.rand(2, 2, 32, 32), data_range=1.0).sum().backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(torch.rand(1, 3, 8, 30), torch.rand(1, 3, 8, 30))


def test_colourfulness_known_cases():
    grey = np.repeat(data.camera()[..., None], 3, -1)
    assert metrics.colourfulness(_t(grey)).item() == pytest.approx(0.0, abs=1e-9)
    red = np.zeros((8, 8, 3)) + [255, 0, 0]
    assert metrics.colourfulness(_t(red)).item() == pytest.approx(0.3 * np.hypot(255, 127.5))
    # half red, half blue: the spread term is the population std of rg and yb
    img = np.zeros((2, 2, 3))
    img[0] = [255, 0, 0]
    img[1] = [0, 0, 255]
    rg, yb = np.array([255, 255, 0, 0]), np.array([127.5, 127.5, -255, -255])
    want = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert metrics.colourfulness(_t(img)).item() == pytest.approx(want)
    assert metrics.colourfulness(_t(img) / 255, data_range=1.0).item() == pytest.approx(want)
    assert metrics.colourfulness(_t(data.astronaut())).item() > 20


def test_mse_and_psnr_from_mse():
    a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 2.0)
    assert metrics.mse(a, b).item() == 4.0
    assert metrics.psnr_from_mse(4.0) == pytest.approx(metrics.psnr(a, b).item())
    assert metrics.psnr_from_mse(0.0) == float("inf")



def test_ssim_is_the_same_through_either_blur(monkeypatch):
    """Crops blur by matrix products, large photos by convolutions: the same SSIM either way, and its gradient."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 64, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 3, 40, 64, dtype=torch.float64)
    by_band = metrics.ssim(x, y, data_range=1.0)
    (grad_band,) = torch.autograd.grad(by_band.sum(), x)
    monkeypatch.setattr(metrics, "BAND_MAX", 32)
    by_conv = metrics.ssim(x, y, data_range=1.0)
    (grad_conv,) = torch.autograd.grad(by_conv.sum(), x)
    assert torch.allclose(by_band, by_conv, atol=1e-12) and torch.allclose(grad_band, grad_conv, atol=1e-12)

"""Colour hints: parsing and checking them, the map the network takes, training's draws from the truth, and
the hint-taking model (its automatic answer unchanged, its hint decoder made from the automatic one)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from colorize import hints as H
from colorize import lab
from colorize.checkpoint import load_model, save_model
from colorize.models import create_model, with_hints
from colorize.pipeline import colorize_upright
from tests.conftest import natural_image, random_colour_model


def test_parse_hints_accepts_json_text_and_lists():
    text = json.dumps([{"x": 3, "y": 4.5, "color": "#3355AA"}, {"x": 0, "y": 0, "color": "ff0000"}])
    hints = H.parse_hints(text, width=10, height=10)
    assert hints == [H.Hint(3.0, 4.5, "#3355aa"), H.Hint(0.0, 0.0, "#ff0000")]
    assert H.parse_hints(None) == [] and H.parse_hints("") == [] and H.parse_hints("[]") == []


@pytest.mark.parametrize("value, message", [
    ("not json", "JSON list"),
    ('{"x": 1}', "JSON list"),
    ('[1]', "hint 0: must be an object"),
    ('[{"x": 1, "y": 2}]', "hint 0: missing color"),
    ('[{"x": 1, "y": 2, "color": "#fff"}]', "hint 0: color must be '#rrggbb'"),
    ('[{"x": 1, "y": 2, "color": "#12345g"}]', "six hex digits"),
    ('[{"x": 1, "y": 2, "color": "#123456"}, {"x": "1", "y": 2, "color": "#123456"}]', "hint 1: x must be a number"),
    ('[{"x": 1, "y": true, "color": "#123456"}]', "hint 0: y must be a number"),
    ('[{"x": 1, "y": NaN, "color": "#123456"}]', "finite"),
    ('[{"x": 1' + "0" * 400 + ', "y": 1, "color": "#123456"}]', "hint 0: x must be a finite number"),
    ("[" * 5000, "hints must be a JSON list"),
    ('[{"x": 10, "y": 2, "color": "#123456"}]', "hint 0: x=10 is outside the image (0 <= x < 10)"),
    ('[{"x": 1, "y": -1, "color": "#123456"}]', "hint 0: y=-1 is outside the image"),
])
def test_bad_hints_say_which_and_why(value, message):
    with pytest.raises(H.HintError, match=message.replace("(", r"\(").replace(")", r"\)")):
        H.parse_hints(value, width=10, height=8)


def test_too_many_hints_are_refused():
    many = [{"x": 1, "y": 1, "color": "#000000"}] * (H.MAX_HINTS + 1)
    with pytest.raises(H.HintError, match=f"too many hints: {H.MAX_HINTS + 1}"):
        H.parse_hints(many)


def test_hint_map_puts_the_colours_chroma_on_a_patch_at_the_render_size():
    # a 400 x 200 photo rendered at 100 x 50: the point (200, 100) lands on render pixel (50, 25)
    hint = H.Hint(200, 100, "#3355aa")
    got = H.hint_map([hint], (400, 200), (50, 100))
    assert got.shape == (1, 3, 50, 100)
    mask = got[0, 2]
    assert mask.sum() == H.PATCH ** 2 and mask[25, 50] == 1 and mask[25, 50 + H.PATCH // 2 + 1] == 0
    want = lab.normalize_ab(lab.rgb_to_lab(torch.tensor([0x33, 0x55, 0xAA]).view(1, 3, 1, 1) / 255.0)[0, 1:, 0, 0])
    assert torch.allclose(got[0, :2, 25, 50], want, atol=1e-6)
    assert got[0, :2][:, mask == 0].abs().max() == 0  # no colour outside the hints


def test_training_hints_carry_the_truths_patch_mean():
    ab = torch.zeros(3, 2, 32, 32)
    ab[:, 0, :, :16] = 0.5  # the left half is one colour, the right another
    ab[:, 1, :, 16:] = -0.25
    counts = torch.tensor([1, 4, 20])
    got = H.sample_hints(ab, counts, patches=(1,), generator=torch.Generator().manual_seed(0))
    marked = got[:, 2].sum(dim=(1, 2))
    assert marked[0] == 1 and 1 <= marked[1] <= 4 and 15 <= marked[2] <= 20  # points may coincide
    for n in range(3):
        on = got[n, 2] > 0
        assert torch.equal(got[n, :2][:, on], ab[n][:, on])  # a 1-px patch carries the pixel's own colour
    # the count draw: at least one hint, many more at times, never above the limit
    draw = H.hint_counts(10_000, generator=torch.Generator().manual_seed(0))
    assert draw.min() == 1 and draw.max() <= H.MAX_HINTS and 6 < draw.float().mean() < 10


def test_a_hint_model_starts_as_its_automatic_model_and_keeps_its_automatic_answer():
    auto = random_colour_model("unet_resnet18")
    model = with_hints(auto).eval()
    assert model.config.hints and not auto.config.hints
    lightness = torch.rand(1, 1, 40, 56) * 100
    hints = H.hint_map([H.Hint(10, 10, "#ff0000"), H.Hint(40, 30, "#00ff00")], (56, 40), (40, 56))
    with torch.no_grad():
        want = auto(lightness)
        assert torch.equal(model(lightness), want)  # no hints: the automatic decoder
        assert torch.allclose(model(lightness, hints), want, atol=1e-5)  # hint weights at zero
        assert torch.equal(model(lightness, torch.zeros_like(hints)), want)  # an empty mask is no hints
        with torch.no_grad():
            for conv in model.hint_inputs:
                conv.weight.normal_(0, 0.5)
        assert not torch.allclose(model(lightness, hints), want, atol=1e-3)
        assert torch.equal(model(lightness), want)
    with pytest.raises(ValueError, match="does not take colour hints"):
        auto(lightness, hints)


def test_training_a_hint_model_moves_only_its_hint_decoder():
    model = with_hints(random_colour_model("unet_resnet18")).train()
    assert not model.encoder.training and not model.blocks.training and model.hint_blocks.training
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("hint_")}
    trained = {k: v.clone() for k, v in model.named_parameters() if k.startswith("hint_")}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    lightness = torch.rand(2, 1, 64, 64) * 100
    target = torch.rand(2, 2, 64, 64) - 0.5
    out = model(lightness, H.sample_hints(target, torch.tensor([3, 5])))
    (out - target).abs().mean().backward()
    opt.step()
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items())  # BN statistics included
    assert any(not torch.equal(v, trained[k]) for k, v in model.named_parameters() if k in trained)


def test_a_hint_checkpoint_round_trips(tmp_path):
    model = with_hints(random_colour_model("unet_resnet18"))
    save_model(model, tmp_path / "h.safetensors")
    loaded, meta = load_model(tmp_path / "h.safetensors")
    assert meta["architecture"]["config"]["hints"] is True and loaded.config.hints
    assert not create_model("unet_resnet18").config.hints


def test_the_pipeline_refuses_hints_for_a_model_without_them_and_points_outside():
    photo = natural_image(48, 64).convert("L")
    with pytest.raises(H.HintsUnsupported, match="does not take colour hints"):
        colorize_upright(photo, random_colour_model("unet_resnet18"), 64, hints=[H.Hint(1, 1, "#ff0000")])
    model = with_hints(random_colour_model("unet_resnet18"))
    with pytest.raises(H.HintError, match="hint 0: x=64 is outside"):
        colorize_upright(photo, model, 64, hints=[H.Hint(64, 1, "#ff0000")])
    assert colorize_upright(photo, model, 64, hints=[H.Hint(63, 47, "#ff0000")]).size == (64, 48)


def test_the_shipped_checkpoint_answers_as_its_automatic_model_without_hints():
    from colorize import DEFAULT_CHECKPOINT

    model, _ = load_model(DEFAULT_CHECKPOINT)
    assert model.config.hints
    auto = create_model(model.config.name, chroma_gain=model.config.chroma_gain).eval()
    auto.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("hint_")})
    lightness = torch.rand(1, 1, 96, 128) * 100
    with torch.no_grad():
        assert torch.equal(model(lightness), auto(lightness))


def test_a_batch_with_and_without_hints_gives_each_image_its_own_decoder():
    model = with_hints(random_colour_model("unet_resnet18")).eval()
    with torch.no_grad():
        for conv in model.hint_inputs:
            conv.weight.normal_(0, 0.5)
    lightness = torch.rand(2, 1, 64, 64) * 100
    hints = torch.zeros(2, 3, 64, 64)
    hints[1] = H.hint_map([H.Hint(5, 5, "#ff0000")], (64, 64), (64, 64))[0]
    with torch.no_grad():
        both = model(lightness, hints)
        assert torch.allclose(both[0], model(lightness[:1])[0], atol=1e-5)  # the automatic decoder's answer
        assert torch.allclose(both[1], model(lightness[1:], hints[1:])[0], atol=1e-5)


def _blue_difference() -> torch.Tensor:
    return H.colors_to_ab([H.Hint(0, 0, "#3355aa")])[0]


def test_spreading_pulls_the_answer_to_the_hint_and_fades_with_distance_and_lightness():
    ab = torch.zeros(1, 2, 60, 80)
    lightness = torch.full((1, 1, 60, 80), 50.0)
    lightness[0, 0, 30:] = 90.0  # a lighter lower half: a different surface
    want = _blue_difference()
    got = H.spread_hints(ab, lightness, [H.Hint(100, 50, "#3355aa")], (400, 300))  # render pixel (20, 10)
    share = (got[0, :, 10, 20] @ want) / (want @ want)
    assert 0.9 <= share <= 1.0  # the hint's own spot takes (almost) its colour
    along = [(got[0, :, 10, x] @ want).item() for x in (20, 40, 60, 79)]
    assert along == sorted(along, reverse=True)  # fading with distance...
    assert (got[0, :, 10, 79] @ want) < 0.1 * (want @ want)  # ...to almost nothing far away
    assert (got[0, :, 40, 20] @ want) < 0.5 * (got[0, :, 20, 20] @ want)  # other lightness: much less
    assert torch.equal(H.spread_hints(ab, lightness, [], (400, 300)), ab)


def test_hints_that_agree_share_the_correction_rather_than_add_up():
    ab = torch.zeros(1, 2, 40, 40)
    lightness = torch.full((1, 1, 40, 40), 50.0)
    want = _blue_difference()
    one = H.spread_hints(ab, lightness, [H.Hint(20, 20, "#3355aa")], (40, 40))
    three = H.spread_hints(ab, lightness, [H.Hint(20, 20, "#3355aa")] * 3, (40, 40))
    assert (one[0, :, 20, 20] @ want) <= (three[0, :, 20, 20] @ want) <= want @ want


def test_spreading_an_answer_that_already_matches_changes_nothing():
    want = _blue_difference()
    ab = want.view(1, 2, 1, 1).expand(1, 2, 30, 30).clone()
    got = H.spread_hints(ab, torch.rand(1, 1, 30, 30) * 100, [H.Hint(3, 4, "#3355aa"), H.Hint(25, 20, "#3355aa")],
                         (30, 30))
    assert torch.allclose(got, ab, atol=1e-4)


def test_spreading_in_strips_equals_spreading_at_once(monkeypatch):
    torch.manual_seed(0)
    ab, lightness = torch.randn(1, 2, 50, 70) * 20, torch.rand(1, 1, 50, 70) * 100
    hints = [H.Hint(x, y, c) for x, y, c in ((5, 5, "#ff0000"), (60, 40, "#00aa33"), (30, 20, "#3355aa"))]
    whole = H.spread_hints(ab, lightness, hints, (70, 50))
    monkeypatch.setattr(H, "_SPREAD_CHUNK", 100)  # 70 px a row: one row a step
    assert torch.allclose(H.spread_hints(ab, lightness, hints, (70, 50)), whole, atol=1e-5)


def test_with_the_shipped_model_a_hint_colours_its_surroundings():
    from colorize import DEFAULT_CHECKPOINT

    model, _ = load_model(DEFAULT_CHECKPOINT)
    photo = natural_image(192, 256).convert("L").point(lambda v: v * 0.55)  # mid-grey: a blue there is in gamut
    hint = H.Hint(128, 96, "#3355aa")  # the middle of the disc
    want = _blue_difference()

    def ab_around(image, x, y):
        rgb = torch.tensor(np.array(image.crop((x - 6, y - 6, x + 7, y + 7))), dtype=torch.float32)
        return lab.rgb_to_lab(rgb.permute(2, 0, 1)[None] / 255.0)[0, 1:].mean((1, 2))

    alone = colorize_upright(photo, model, 128, hints=[hint], spread=False)
    spread = colorize_upright(photo, model, 128, hints=[hint])
    for x, y, closer in ((128, 96, 0.5), (150, 110, 0.75)):  # the point, and the same surface beside it
        assert (ab_around(spread, x, y) - want).norm() < closer * (ab_around(alone, x, y) - want).norm()
    assert (ab_around(spread, 128, 96) - want).norm() < 8  # LAB units: close to the picked colour

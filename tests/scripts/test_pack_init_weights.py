"""scripts.pack_init_weights: a checkpoint int8-packed to carry it to a lent GPU, and rebuilt there."""

import torch

from colorize.checkpoint import load_model, read_metadata
from scripts import pack_init_weights


def test_quantize_keeps_each_channel_within_half_a_step():
    w = torch.randn(8, 4, 3, 3) * torch.logspace(-3, 0, 8)[:, None, None, None]  # channels of very different scale
    q, scale = pack_init_weights.quantize(w)
    assert q.dtype == torch.int8 and scale.shape == (8,)
    err = (pack_init_weights.dequantize(q, scale) - w).abs().reshape(8, -1).amax(dim=1)
    assert torch.all(err <= scale / 2 + 1e-7)  # per-channel scales: the small channels stay accurate too
    assert torch.all(err <= w.abs().reshape(8, -1).amax(dim=1) / 254 + 1e-7)


def test_pack_then_unpack_gives_a_loadable_checkpoint_with_nearly_the_same_answers(tmp_path, tiny_checkpoint):
    packed, rebuilt = tmp_path / "init8.safetensors", tmp_path / "init.safetensors"
    result = pack_init_weights.pack(tiny_checkpoint, packed)
    assert result["tensors_int8"] > 10
    assert packed.stat().st_size < 0.6 * result["source_bytes"]  # fp16 -> int8 for the big tensors
    assert pack_init_weights.main(["unpack", str(packed), str(rebuilt)]) == 0

    original, meta = load_model(tiny_checkpoint)
    model, new_meta = load_model(rebuilt)
    assert new_meta["architecture"] == meta["architecture"]
    assert new_meta["packed_from"]["weights_sha256"] == meta["weights_sha256"]
    assert read_metadata(rebuilt)["storage_dtype"] == "float32"
    torch.manual_seed(0)
    lightness = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        a, b = original(lightness), model(lightness)
    assert not torch.equal(a, b)  # rounded, not copied
    assert (a - b).abs().max() < 0.05 * a.abs().max() + 1e-3

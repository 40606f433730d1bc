import pytest
import torch

from colorize.models import _Upsample2x, create_model, list_models
from training import build, train
from training.config import build_config
from training.precision import Bf16Replica, _Fp32Island, bf16_supported


@pytest.mark.parametrize("arch", list_models())
def test_the_replica_runs_in_bf16_and_leaves_the_master_in_fp32(arch):
    master = create_model(arch).to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in master.state_dict().items()}
    replica = Bf16Replica(master)
    assert all(torch.equal(v, before[k]) and v.dtype == before[k].dtype for k, v in master.state_dict().items())
    convs = [m for m in replica.net.modules() if isinstance(m, torch.nn.Conv2d)]
    dense = [m for m in convs if m.groups == 1]
    assert dense and all(m.weight.dtype == torch.bfloat16 for m in dense)
    # depthwise convolutions are the master's own fp32 modules (their bf16 backward pass is slow)
    master_modules = {id(m) for m in master.modules()}
    depthwise = [m for m in convs if m.groups > 1]
    assert all(m.weight.dtype == torch.float32 and id(m) in master_modules for m in depthwise)
    assert bool(depthwise) == any(isinstance(m, torch.nn.Conv2d) and m.groups > 1 for m in master.modules())
    ab = replica.net(replica.input(torch.rand(2, 1, 64, 64) * 100))
    assert ab.dtype == torch.float32 and ab.shape == (2, 2, 64, 64)


def test_gradients_reach_the_master_and_the_step_reaches_the_replica():
    torch.manual_seed(0)
    master = create_model("unet_resnet18")
    torch.nn.init.normal_(master.head.weight, std=0.1)  # a zero head would give the decoder no gradient
    replica = Bf16Replica(master)
    replica.pull()
    x = torch.rand(4, 1, 64, 64) * 100
    reference = master(x)
    reference.square().mean().backward()
    expected = {n: p.grad.clone() for n, p in master.named_parameters()}
    master.zero_grad(set_to_none=True)
    replica.net(replica.input(x)).square().mean().backward()
    replica.push_grads()
    cosines = {}
    for name, p in master.named_parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32, name
        cosines[name] = torch.nn.functional.cosine_similarity(p.grad.flatten(), expected[name].flatten(), dim=0)
    # bf16 rounding, not another gradient (deep in a random network some tensors' gradients are mostly noise)
    assert min(c for n, c in cosines.items() if n.startswith(("head", "blocks.4"))) > 0.98
    assert min(cosines.values()) > 0.5 and torch.tensor(list(cosines.values())).median() > 0.85
    assert all(r.grad is None for r in replica._replica)
    with torch.no_grad():
        master.head.weight.add_(1.0)
    replica.pull()
    assert torch.equal(replica.net.head.weight, master.head.weight.to(torch.bfloat16))


def test_depthwise_convolutions_train_in_fp32_inside_the_replica():
    torch.manual_seed(0)
    master = create_model("unet_mobilenet_v2").to(memory_format=torch.channels_last)
    torch.nn.init.normal_(master.head.weight, std=0.1)
    replica = Bf16Replica(master)
    depthwise = [m for m in master.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 17
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.dtype))) for m in depthwise]
    replica.net(replica.input(torch.rand(2, 1, 64, 64) * 100)).square().mean().backward()
    replica.push_grads()
    for h in hooks:
        h.remove()
    assert seen == [(torch.float32, torch.float32)] * 17
    assert all(m.weight.grad is not None and m.weight.grad.dtype == torch.float32 for m in depthwise)
    slow = Bf16Replica(master, fp32_depthwise=False)  # the benchmark's comparison: all in bf16
    assert not any(isinstance(m, _Fp32Island) for m in slow.net.modules())
    assert all(m.weight.dtype == torch.bfloat16 for m in slow.net.modules() if isinstance(m, torch.nn.Conv2d))

    # between the casts, the very gradients of an fp32 convolution fed the same (bf16) numbers
    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8).to(memory_format=torch.channels_last)
    x = torch.randn(2, 8, 9, 9).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    g = torch.randn(2, 8, 9, 9).to(torch.bfloat16)
    xb = x.clone().requires_grad_()
    out = _Fp32Island(conv)(xb)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    out.backward(g)
    ours = (xb.grad, conv.weight.grad.clone())
    conv.zero_grad()
    xf = x.float().requires_grad_()
    conv(xf).backward(g.float())
    assert torch.equal(ours[1], conv.weight.grad)
    assert torch.equal(ours[0], xf.grad.to(torch.bfloat16))


def test_the_fast_upsampling_gradient_is_bilinear_upsamplings_own():
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 10, 14, dtype=torch.float64)
    (ours,) = torch.autograd.grad(_Upsample2x.apply(x), x, g)
    up = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    (theirs,) = torch.autograd.grad(up, x, g)
    assert torch.allclose(ours, theirs, atol=1e-12)


@pytest.mark.skipif(not bf16_supported(), reason="this CPU has no bf16 units (AMX, AVX-512 bf16)")
def test_a_bf16_run_trains_resumes_and_saves_fp32(tmp_path, image_folder):
    args = ["--arch", "unet_resnet18", "--batch-size", "4", "--crop-size", "32", "--workers", "0",
            "--precision", "bf16", "--channels-last", "--val-every", "2", "--data", str(image_folder)]
    assert train.main([*args, "--out", str(tmp_path / "a"), "--max-steps", "2"]) == 0
    assert train.main([*args, "--out", str(tmp_path / "a"), "--max-steps", "4", "--resume"]) == 0
    assert train.main([*args, "--out", str(tmp_path / "b"), "--max-steps", "4"]) == 0
    resumed = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    straight = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    assert all(v.dtype != torch.bfloat16 for v in resumed.values())
    for k, v in straight.items():
        assert torch.allclose(v.float(), resumed[k].float(), atol=1e-5), k


def test_precision_bf16_on_a_cpu_without_bf16_units_trains_in_fp32(tmp_path, image_folder, monkeypatch, capsys):
    monkeypatch.setattr(build, "bf16_supported", lambda: False)
    cfg = build_config(None, {"data": [str(image_folder)], "arch": "unet_resnet18", "batch_size": 2,
                              "crop_size": 32, "workers": 0, "precision": "bf16", "max_steps": 1,
                              "out": str(tmp_path)})
    trainer = train.Trainer(cfg)
    assert trainer.precision == "fp32" and trainer.replica is None
    assert "no bf16 units" in capsys.readouterr().out


def test_compile_falls_back_to_eager_without_a_compiler(monkeypatch, capsys):
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    net = torch.nn.Conv2d(1, 1, 1)
    assert build.compile_model(net, torch.device("cpu")) is net
    assert "no C++ compiler" in capsys.readouterr().out

"""Deep-track networks: shapes for any input length/size, one module per activation, seeded init, captum."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agnbench.config.core import load_config
from agnbench.deep.networks import build_model, load_init
from agnbench.deep.resnet1d import ResNet1d
from agnbench.deep.resnet2d import ResNet18
from agnbench.errors import AgnbenchError


@pytest.mark.parametrize("length", [2952, 3840, 4600, 101])
def test_resnet1d_any_length(length: int) -> None:
    model = ResNet1d(in_channels=2, n_classes=3, width=4, blocks=(1, 1))
    assert model(torch.randn(2, 2, length)).shape == (2, 3)


def test_resnet1d_scalar_input_changes_output_and_is_required() -> None:
    model = ResNet1d(in_channels=1, n_classes=2, width=4, blocks=(1,), n_scalars=1).eval()
    nn.init.ones_(model.head.weight)
    x = torch.randn(3, 1, 200)
    a, b = model(x, torch.zeros(3, 1)), model(x, torch.ones(3, 1))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="scalar"):
        model(x)


@pytest.mark.parametrize(("size", "stem", "stride"), [(32, "small", 1), (48, "small", 2), (64, "small", 2),
                                                     (160, "imagenet", 2)])
def test_resnet18_shapes(size: int, stem: str, stride: int) -> None:
    model = ResNet18(in_channels=3, n_classes=2, width=0.125, stem=stem, stem_stride=stride)
    assert model(torch.randn(2, 3, size, size)).shape == (2, 2)


def test_resnet18_layout() -> None:
    model = ResNet18(in_channels=3, n_classes=2, width=1.0)
    assert len(model.stages) == 4 and all(len(stage) == 2 for stage in model.stages)
    assert [stage[0].conv1.out_channels for stage in model.stages] == [64, 128, 256, 512]
    n_params = sum(p.numel() for p in model.parameters())
    assert 11.0e6 < n_params < 11.3e6  # ResNet-18's ~11.2 M parameters (3x3 stem, 2-class head)


@pytest.mark.parametrize("model", [ResNet1d(in_channels=2, n_classes=2, width=4, blocks=(2, 1)),
                                   ResNet18(in_channels=3, n_classes=2, width=0.125)])
def test_every_activation_module_is_used_once(model: nn.Module) -> None:
    calls: dict[str, int] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(lambda mod, i, o, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
    x = torch.randn(2, 2, 256) if isinstance(model, ResNet1d) else torch.randn(2, 3, 32, 32)
    model(x)
    assert calls and set(calls.values()) == {1}


def test_captum_deeplift_and_gradcam_run() -> None:
    captum = pytest.importorskip("captum.attr")
    model = ResNet18(in_channels=3, n_classes=2, width=0.125).eval()
    x = torch.randn(2, 3, 32, 32)
    attr, delta = captum.DeepLift(model).attribute(x, target=1, return_convergence_delta=True)
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    cam = captum.LayerGradCam(model, model.stages[-1]).attribute(x, target=1)
    assert cam.shape[0] == 2


def test_build_model_is_seeded_and_leaves_global_rng_alone() -> None:
    cfg = load_config().spectra
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("spectra", cfg, in_channels=2, n_classes=2, seed=5)
    assert torch.equal(torch.rand(1), before)
    b = build_model("spectra", cfg, in_channels=2, n_classes=2, seed=5)
    c = build_model("spectra", cfg, in_channels=2, n_classes=2, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), c.state_dict().values()))


def test_load_init_keeps_a_head_of_another_shape(tmp_path) -> None:
    cfg = load_config().images
    src = build_model("images", cfg, in_channels=3, n_classes=2, seed=0)
    torch.save(src.state_dict(), tmp_path / "model.pt")
    dst = build_model("images", cfg, in_channels=3, n_classes=4, seed=1)
    info = load_init(dst, tmp_path)
    assert set(info["fresh"]) == {"head.weight", "head.bias"}
    assert torch.equal(dst.stem[0].weight, src.stem[0].weight)
    with pytest.raises(AgnbenchError, match="no tensor matches"):
        load_init(build_model("spectra", load_config().spectra, in_channels=2, n_classes=2, seed=0), tmp_path)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(AgnbenchError, match="not a torch checkpoint"):
        load_init(dst, tmp_path / "junk.pt")

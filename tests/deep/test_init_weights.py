"""`agnbench train images --init-weights PATH`: torchvision/timm ResNet-18 state dicts mapped onto agnbench's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.deep.init_weights import load_init_weights, map_key
from agnbench.deep.resnet2d import ResNet18
from agnbench.errors import AgnbenchError

#: torchvision.models.resnet18().state_dict(): every name and shape, written out here (torchvision is not a
#: dependency); timm's resnet18 uses the same names.
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet18_shapes(*, n_classes: int = 1000, in_channels: int = 3) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, in_channels, 7, 7)}
    shapes |= {f"bn1.{b}": () if b == "num_batches_tracked" else (64,) for b in _BN}
    c_in = 64
    for i, c in enumerate((64, 128, 256, 512), start=1):
        for blk in (0, 1):
            first_in = c_in if blk == 0 else c
            shapes[f"layer{i}.{blk}.conv1.weight"] = (c, first_in, 3, 3)
            shapes[f"layer{i}.{blk}.conv2.weight"] = (c, c, 3, 3)
            for bn in ("bn1", "bn2"):
                shapes |= {f"layer{i}.{blk}.{bn}.{b}": () if b == "num_batches_tracked" else (c,) for b in _BN}
            if blk == 0 and i > 1:
                shapes[f"layer{i}.0.downsample.0.weight"] = (c, c_in, 1, 1)
                shapes |= {f"layer{i}.0.downsample.1.{b}": () if b == "num_batches_tracked" else (c,) for b in _BN}
        c_in = c
    return shapes | {"fc.weight": (n_classes, 512), "fc.bias": (n_classes,)}


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randint(0, 100, s, generator=g) if k.endswith("num_batches_tracked")
            else torch.randn(s, generator=g) for k, s in shapes.items()}


def as_torchvision(model: ResNet18) -> dict[str, torch.Tensor]:
    """agnbench's own weights under torchvision's names (renamed here, independently of map_key)."""
    out = {}
    for key, value in model.state_dict().items():
        k = key.replace("stem.0.", "conv1.").replace("stem.1.", "bn1.").replace("head.", "fc.")
        if k.startswith("stages."):
            _, s, rest = k.split(".", 2)
            k = f"layer{int(s) + 1}.{rest}".replace("shortcut.", "downsample.")
        out[k] = value.clone()
    return out


def test_torchvision_layout_maps_every_backbone_key_and_skips_the_imagenet_head(tmp_path: Path) -> None:
    state = random_state(torchvision_resnet18_shapes())
    path = tmp_path / "resnet18.pt"
    torch.save(state, path)
    model = ResNet18(in_channels=3, n_classes=2, width=1.0, stem="imagenet")
    head_before = model.head.weight.detach().clone()
    record = load_init_weights(model, path)
    own = model.state_dict()
    assert len(state) == 122 and len(record["loaded"]) == 120 and set(record["loaded"].values()) == set(state) - {
        "fc.weight", "fc.bias"}
    for target, source in record["loaded"].items():
        assert torch.equal(own[target], state[source]), target
    assert set(own) - set(record["loaded"]) == {"head.weight", "head.bias"} == set(record["fresh"])
    assert torch.equal(model.head.weight, head_before)  # the 1000-class head is not used
    assert [s["key"] for s in record["skipped"]] == ["fc.weight", "fc.bias"]
    assert "1000" in record["skipped"][0]["reason"] and "freshly initialised" in record["skipped"][0]["reason"]
    assert record["layout"] == "torchvision/timm" and record["adapted"] == []
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and record["path"] == str(path.resolve())
    assert map_key("layer3.0.downsample.1.running_var") == "stages.2.0.shortcut.1.running_var"


@pytest.mark.parametrize("wrap", ["plain", "timm_checkpoint", "ddp_module"])
def test_own_model_renamed_loads_back_exactly(tmp_path: Path, wrap: str) -> None:
    """A small-stem, width-0.125 agnbench model saved in torchvision names (also inside a timm training
    checkpoint's ``state_dict`` and with DDP's ``module.`` prefix) loads back tensor for tensor, head included."""
    source = ResNet18(in_channels=3, n_classes=2, width=0.125, stem="small", stem_stride=2)
    with torch.no_grad():  # non-default buffers, so that equal means copied
        for buf in source.buffers():
            buf.add_(torch.rand_like(buf.float()).to(buf.dtype) + 1)
    state = as_torchvision(source)
    saved = {"plain": state, "timm_checkpoint": {"epoch": 3, "arch": "resnet18", "state_dict": state},
             "ddp_module": {f"module.{k}": v for k, v in state.items()}}[wrap]
    torch.save(saved, tmp_path / "w.pt")
    target = ResNet18(in_channels=3, n_classes=2, width=0.125, stem="small", stem_stride=2, dropout=0.1)
    record = load_init_weights(target, tmp_path / "w.pt")
    assert record["skipped"] == [] and record["fresh"] == []
    ref, got = source.state_dict(), target.state_dict()
    assert set(record["loaded"]) == set(ref)
    for key in ref:
        assert torch.equal(ref[key], got[key]), key


@pytest.mark.parametrize("bands", [1, 5])
def test_other_band_counts_adapt_the_first_convolution(tmp_path: Path, bands: int) -> None:
    state = random_state(torchvision_resnet18_shapes())
    torch.save(state, tmp_path / "w.pt")
    model = ResNet18(in_channels=bands, n_classes=2, width=1.0, stem="imagenet")
    record = load_init_weights(model, tmp_path / "w.pt")
    w = model.stem[0].weight.detach()
    rgb = state["conv1.weight"]
    expected = rgb.sum(1, keepdim=True) if bands == 1 else torch.cat([rgb, rgb], 1)[:, :bands] * 3 / bands
    torch.testing.assert_close(w, expected)
    assert record["adapted"][0]["from_channels"] == 3 and record["adapted"][0]["to_channels"] == bands


def test_bad_files_are_one_clear_error(tmp_path: Path) -> None:
    model = ResNet18(in_channels=3, n_classes=2, width=0.5)
    with pytest.raises(AgnbenchError, match=r"--init-weights/images.init_weights .*nope\.pt: no such file"):
        load_init_weights(model, tmp_path / "nope.pt")
    (tmp_path / "text.pt").write_text("not a torch file")
    with pytest.raises(AgnbenchError, match=r"text\.pt: not a torch file readable with weights_only=True"):
        load_init_weights(model, tmp_path / "text.pt")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pt")
    with pytest.raises(AgnbenchError, match=r"meta\.pt: not a state dict"):
        load_init_weights(model, tmp_path / "meta.pt")
    torch.save({"encoder.blocks.0.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    with pytest.raises(AgnbenchError, match=r"other\.pt: no tensor of the file matches .*encoder\.blocks\.0\.weight"):
        load_init_weights(model, tmp_path / "other.pt")
    torch.save(random_state(torchvision_resnet18_shapes()), tmp_path / "full.pt")
    with pytest.raises(AgnbenchError, match=r"conv1\.weight \(agnbench stem\.0\.weight\) has shape \[64, 3, 7, 7\], "
                                            r"this model's is \[32, 3, 3, 3\]; "
                                            r".*images\.width=1\.0.*images\.stem=imagenet"):
        load_init_weights(model, tmp_path / "full.pt")
    # the imagenet stem at width 1 but another block layout: the stage tensor is named
    state = random_state(torchvision_resnet18_shapes())
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 5, 5)
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(AgnbenchError, match=r"layer2\.0\.conv1\.weight \(agnbench stages\.1\.0\.conv1\.weight\)"):
        load_init_weights(ResNet18(in_channels=3, n_classes=2, width=1.0, stem="imagenet"), tmp_path / "odd.pt")


def test_config_key_is_checked() -> None:
    assert load_config().images.init_weights is None
    assert load_config(overrides=["images.init_weights=w/resnet18.pt"]).images.init_weights == "w/resnet18.pt"
    with pytest.raises(Exception, match="images.init_weights"):
        load_config(overrides=["images.init_weights=' '"])


def test_cli_train_images_init_weights_end_to_end(mock_store: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """`agnbench train images --init-weights` on the mock store: loaded, recorded, fine-tuned (frozen first)."""
    source = ResNet18(in_channels=3, n_classes=10, width=0.125, stem="small", stem_stride=2)
    weights = tmp_path / "resnet18_tv.pt"
    torch.save(as_torchvision(source), weights)
    tiny = ["images.width=0.125", "images.tta=false", "images.freeze_epochs=1", "images.patience=2",
            "images.device=cpu", "images.threads=1"]
    argv = ["train", "images", "--data", str(mock_store), "--runs-dir", str(tmp_path / "runs"), "--name", "pre",
            "--epochs", "2", "--init-weights", str(weights), "-q"] + [a for s in tiny for a in ("--set", s)]
    assert main(argv) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    record = json.loads((run / "init_weights.json").read_text())
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert len(record["loaded"]) == len(source.state_dict()) - 2 and set(record["fresh"]) == {"head.weight",
                                                                                               "head.bias"}
    assert [s["key"] for s in record["skipped"]] == ["fc.weight", "fc.bias"]
    meta = json.loads((run / "model_meta.json").read_text())
    assert meta["init_weights"]["sha256"] == record["sha256"]
    assert meta["init_weights"]["loaded"] == len(record["loaded"])
    assert load_config(run / "config.yaml").images.init_weights == str(weights)
    assert list(pd.read_csv(run / "history.csv")["frozen_backbone"]) == [True, False]
    assert "pretrained weights" in (run / "MODEL_CARD.md").read_text()
    # epoch 1 trains the head alone, epoch 2 the whole network: the backbone has moved from the file's weights
    last = torch.load(run / "checkpoint_last.pt", weights_only=True)["model"]
    assert not torch.equal(last["stages.0.0.conv1.weight"], source.state_dict()["stages.0.0.conv1.weight"])
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    # a bad file is refused before a run directory is made
    assert main(["train", "images", "--data", str(mock_store), "--runs-dir", str(tmp_path / "runs"), "--name", "bad",
                 "--init-weights", str(tmp_path / "missing.pt"), "-q"]) == 1
    assert "no such file" in capsys.readouterr().err and not (tmp_path / "runs" / "bad").exists()


def test_resume_before_the_first_checkpoint_refuses_a_changed_file(tmp_path: Path) -> None:
    from agnbench.deep.train_deep import _reload_init_weights

    torch.save(as_torchvision(ResNet18(in_channels=3, n_classes=2, width=0.125)), tmp_path / "w.pt")
    model = ResNet18(in_channels=3, n_classes=2, width=0.125)
    recorded = load_init_weights(model, tmp_path / "w.pt")
    _reload_init_weights(model, recorded)  # the same file: loaded again
    torch.save(as_torchvision(ResNet18(in_channels=3, n_classes=2, width=0.125, dropout=0.5)), tmp_path / "w.pt")
    with pytest.raises(AgnbenchError, match=r"init weights .*w\.pt changed since the run started"):
        _reload_init_weights(model, recorded)

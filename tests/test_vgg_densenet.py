"""VGG and DenseNet: paper parameter counts and layer counts, and equivalence with torchvision's implementations."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from zoo import count_parameters, create_model
from zoo.vgg import VGG_CONFIGS


@pytest.mark.parametrize("name,expected", [
    ("vgg16", 138_357_544),
    ("densenet121", 7_978_856),
    ("densenet_bc100_cifar", 769_162),  # paper Table 2: 0.8M
])
def test_parameter_count(name, expected):
    with torch.device("meta"):  # shapes only: skips the (slow) weight init
        model = create_model(name)
    assert count_parameters(model) == expected


# Paper Table 1: weight layers = convolutions + 3 fully connected.
@pytest.mark.parametrize("depth,convs", [(11, 8), (13, 10), (16, 13), (19, 16)])
@pytest.mark.parametrize("suffix", ["", "_bn", "_bn_cifar"])
def test_vgg_conv_count_matches_paper(depth, convs, suffix):
    with torch.device("meta"):
        model = create_model(f"vgg{depth}{suffix}")
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs
    assert sum(isinstance(v, int) for v in VGG_CONFIGS[depth]) == convs


def test_densenet_bc100_cifar_depth_is_100():
    with torch.device("meta"):
        model = create_model("densenet_bc100_cifar")
    # L counts the layers with weights other than BN: 3x16 dense layers x 2 convs + stem + 2 transitions + fc.
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == 100
    assert model.features.denseblock3.denselayer16.conv2.out_channels == 12


IMAGENET_NAMES = [f"vgg{d}{bn}" for d in VGG_CONFIGS for bn in ("", "_bn")] + [
    "densenet121", "densenet161", "densenet169", "densenet201"]


@pytest.mark.parametrize("name", IMAGENET_NAMES)
def test_state_dict_layout_equals_torchvision(name):
    with torch.device("meta"):
        ours = create_model(name).state_dict()
        theirs = torchvision.models.get_model(name).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def _check_against_torchvision(name: str) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.get_model(name).eval()
    for m in reference.modules():  # fresh BN is the identity in eval mode; give it non-trivial statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    torch.manual_seed(1)  # different init, so only the loaded weights can make the outputs agree
    model = create_model(name).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, actual = reference(x), model(x)
    diff = (actual - expected).abs().max().item()
    print(f"{name}: max |output| {expected.abs().max().item():.3g}, max abs diff {diff:.3g}")
    assert expected.abs().max() > 1e-2
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn", "densenet121"])
def test_torchvision_weights_give_identical_outputs(name):
    _check_against_torchvision(name)


@pytest.mark.slow
def test_vgg16_torchvision_weights_give_identical_outputs():
    _check_against_torchvision("vgg16")

"""VGG and DenseNet: paper parameter counts and layer counts, and equivalence with torchvision's implementations."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from torchvision_reference import (assert_state_dict_layout_equals_torchvision,
                                   assert_torchvision_weights_give_identical_outputs)
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
    assert_state_dict_layout_equals_torchvision(name)


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn", "densenet121"])
def test_torchvision_weights_give_identical_outputs(name):
    assert_torchvision_weights_give_identical_outputs(name)


@pytest.mark.slow
def test_vgg16_torchvision_weights_give_identical_outputs():
    assert_torchvision_weights_give_identical_outputs("vgg16")

"""VGG and DenseNet: paper parameter counts and layer counts, and equivalence with torchvision's implementations."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from model_checks import (
    assert_state_dict_layout_equals_torchvision,
    assert_torchvision_weights_give_identical_outputs,
    stage_output_shapes,
)

from zoo import count_parameters, create_model
from zoo.vgg import VGG_CONFIGS


@pytest.mark.parametrize(
    "name,expected",
    [
        ("vgg16", 138_357_544),
        ("densenet121", 7_978_856),
        ("densenet264", 33_337_704),  # the paper gives none; the widely used reference implementations' figure
        ("densenet_bc100_cifar", 769_162),  # paper Table 2: 0.8M
        ("densenet_bc250_cifar", 15_324_406),  # 15.3M
        ("densenet_bc190_cifar", 25_624_430),  # 25.6M
    ],
)
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


@pytest.mark.parametrize(
    "name,depth,growth_rate",
    [
        ("densenet_bc100_cifar", 100, 12),
        ("densenet_bc250_cifar", 250, 24),
        ("densenet_bc190_cifar", 190, 40),
        ("densenet121", 121, 32),
        ("densenet169", 169, 32),
        ("densenet201", 201, 32),
        ("densenet264", 265, 32),  # Table 1's block sizes (6, 12, 64, 48) give 265 layers; the name is one short
    ],
)
def test_densenet_depth_and_growth_rate(name, depth, growth_rate):
    with torch.device("meta"):
        model = create_model(name)
    # L counts the layers with weights other than BN: 2 convs per dense layer + stem + transitions + fc.
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == depth
    last_block = model.get_submodule(model.group_layout()[-2][1][0])
    assert list(last_block.values())[-1].conv2.out_channels == growth_rate


@pytest.mark.parametrize(
    "name,size,expected",
    [
        # Table 1 at 224: 56x56 after the stem, transitions to 28, 14, 7; channels 64 + 32 * layers, halved by each
        (
            "densenet264",
            224,
            {
                "stem": (64, 56, 56),
                "stage1": (128, 28, 28),
                "stage2": (256, 14, 14),
                "stage3": (1152, 7, 7),
                "stage4": (2688, 7, 7),
                "head": (1000,),
            },
        ),
        # Table 2 nets at 32: 2k stem maps, blocks on 32x32, 16x16, 8x8
        (
            "densenet_bc250_cifar",
            32,
            {
                "stem": (48, 32, 32),
                "stage1": (516, 16, 16),
                "stage2": (750, 8, 8),
                "stage3": (1734, 8, 8),
                "head": (10,),
            },
        ),
        (
            "densenet_bc190_cifar",
            32,
            {
                "stem": (80, 32, 32),
                "stage1": (660, 16, 16),
                "stage2": (950, 8, 8),
                "stage3": (2190, 8, 8),
                "head": (10,),
            },
        ),
    ],
)
def test_densenet_layer_table(name, size, expected):
    assert stage_output_shapes(create_model(name), size) == expected


def _inputs_seen(model: nn.Module, paths: list[str]) -> dict[str, torch.Tensor]:
    seen = {}
    for path in paths:
        model.get_submodule(path).register_forward_pre_hook(lambda m, args, path=path: seen.update({path: args[0]}))
    model.train()(torch.randn(2, 3, 32, 32))
    return seen


def test_dropout_after_every_convolution_but_the_first_is_the_default():
    """Paper Section 4.2: with drop_rate 1 every convolution's output but the stem's is zeroed in training."""
    paths = [
        "features.denseblock1.denselayer1.norm1",
        "features.denseblock1.denselayer1.norm2",
        "features.transition1.pool",
        "features.denseblock2.denselayer1.norm2",
    ]
    paper = _inputs_seen(create_model("densenet_bc100_cifar", drop_rate=1.0), paths)
    assert paper[paths[0]].any()  # the stem's output: no dropout
    assert not any(paper[p].any() for p in paths[1:])  # after a 1x1 bottleneck or a transition convolution
    torchvision = _inputs_seen(create_model("densenet_bc100_cifar", drop_rate=1.0, drop_placement="torchvision"), paths)
    assert all(torchvision[p].any() for p in paths)  # only the 3x3 outputs are dropped


def test_unknown_dropout_placement_is_a_clear_error():
    with pytest.raises(ValueError, match="drop_placement must be one of .*'paper', 'torchvision'.* got 'end'"):
        create_model("densenet121", drop_placement="end")


IMAGENET_NAMES = [f"vgg{d}{bn}" for d in VGG_CONFIGS for bn in ("", "_bn")] + [
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
]


@pytest.mark.parametrize("name", IMAGENET_NAMES)
def test_state_dict_layout_equals_torchvision(name):
    assert_state_dict_layout_equals_torchvision(name)


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn", "densenet121"])
def test_torchvision_weights_give_identical_outputs(name):
    assert_torchvision_weights_give_identical_outputs(name)


@pytest.mark.slow
def test_vgg16_torchvision_weights_give_identical_outputs():
    assert_torchvision_weights_give_identical_outputs("vgg16")

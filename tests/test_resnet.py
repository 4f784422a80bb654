"""ResNet against its paper (ImageNet nets, Table 1; CIFAR-10 nets, Section 4.2) and against torchvision."""

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
from zoo.resnet import RESNET_DEPTHS, BasicBlock
from zoo.resnet_cifar import CIFAR_RESNET_BLOCKS, ZeroPadShortcut

IMAGENET_NAMES = [f"resnet{depth}" for depth in RESNET_DEPTHS]


@pytest.mark.parametrize("name", IMAGENET_NAMES)
def test_state_dict_layout_equals_torchvision(name):
    assert_state_dict_layout_equals_torchvision(name)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_weights_give_identical_outputs(name):
    """The README's claim: a torchvision state_dict loads strictly and gives the same eval outputs."""
    assert_torchvision_weights_give_identical_outputs(name)


# ----------------------------------------------------------------------------- CIFAR-10 nets (Section 4.2)
# Exact counts at 10 classes with option A shortcuts; Table 6 rounds them to 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M.
CIFAR_PARAMETER_COUNTS = {
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
    "resnet1202": 19_421_274,
}
OPTION_B_PROJECTIONS = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # 1x1 conv + BN into stages 2 and 3


@pytest.mark.parametrize("name,expected", CIFAR_PARAMETER_COUNTS.items())
def test_cifar_parameter_count_matches_table_6(name, expected):
    with torch.device("meta"):
        assert count_parameters(create_model(name)) == expected
        assert count_parameters(create_model(name, shortcut="B")) == expected + OPTION_B_PROJECTIONS


@pytest.mark.parametrize("depth,n", CIFAR_RESNET_BLOCKS.items())
def test_cifar_depth_is_6n_plus_2_weighted_layers(depth, n):
    with torch.device("meta"):
        model = create_model(f"resnet{depth}")
    assert depth == 6 * n + 2
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == depth
    assert [len(model.get_submodule(f"layer{i}")) for i in (1, 2, 3)] == [n, n, n]


def test_cifar_layer_table_at_32x32():
    """Section 4.2: output map size 32x32, 16x16, 8x8 with 16, 32, 64 filters, then GAP and a 10-way FC."""
    model = create_model("resnet20")
    shapes = stage_output_shapes(model, 32)
    assert shapes == {
        "stem": (16, 32, 32),
        "stage1": (16, 32, 32),
        "stage2": (32, 16, 16),
        "stage3": (64, 8, 8),
        "head": (10,),
    }
    assert model.info.input_size == (3, 32, 32) and model.info.num_classes == 10 and "cifar" in model.info.tags


def test_option_a_shortcut_is_parameter_free_subsampling_with_zero_channels():
    model = create_model("resnet20")
    shortcuts = {name: m.downsample for name, m in model.named_modules() if isinstance(m, BasicBlock)}
    changing = {name for name, s in shortcuts.items() if s is not None}
    assert changing == {"layer2.0", "layer3.0"}  # identity everywhere else
    shortcut = shortcuts["layer2.0"]
    assert isinstance(shortcut, ZeroPadShortcut) and count_parameters(shortcut) == 0
    x = torch.randn(2, 16, 32, 32)
    out = shortcut(x)
    assert out.shape == (2, 32, 16, 16)
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert not out[:, 16:].any()


def test_option_b_shortcut_projects_only_where_the_shape_changes():
    model = create_model("resnet20", shortcut="B")
    shortcuts = {name: m.downsample for name, m in model.named_modules() if isinstance(m, BasicBlock)}
    assert {name for name, s in shortcuts.items() if s is not None} == {"layer2.0", "layer3.0"}
    projection = shortcuts["layer3.0"][0]
    assert isinstance(projection, nn.Conv2d)
    assert (projection.in_channels, projection.out_channels, projection.kernel_size, projection.stride) == (
        32,
        64,
        (1, 1),
        (2, 2),
    )


def test_unknown_shortcut_type_is_a_clear_error():
    with pytest.raises(ValueError, match="shortcut must be one of .*'A', 'B'.* got 'C'"):
        create_model("resnet20", shortcut="C")


def test_resnet1202_is_finite_in_eval_mode_and_the_papers_init_is_selectable():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.isfinite(create_model("resnet1202").eval()(x)).all()
    paper_init = create_model("resnet1202", zero_init_residual=False)
    assert all(m.last_bn().weight.eq(1).all() for m in paper_init.modules() if isinstance(m, BasicBlock))


# ----------------------------------------------------------------------------- plain baselines (Section 4.2, Fig. 6)
@pytest.mark.parametrize("depth", (20, 32, 44, 56))
def test_plain_net_is_the_resnet_stack_without_shortcuts(depth):
    """Same 6n+2 weighted layers, stage table and parameter count as the option-A ResNet; no shortcut anywhere."""
    plain, resnet = create_model(f"plain{depth}"), create_model(f"resnet{depth}")
    assert count_parameters(plain) == CIFAR_PARAMETER_COUNTS[f"resnet{depth}"]
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in resnet.named_parameters()]
    assert stage_output_shapes(plain, 32) == stage_output_shapes(resnet, 32)
    assert not any(isinstance(m, ZeroPadShortcut) for m in plain.modules())


def test_plain_block_adds_no_identity():
    """With the residual branch's last BN scale and shift at zero, a ResNet block passes relu(x); a plain block 0."""
    plain, resnet = create_model("plain20").layer1[0], create_model("resnet20").layer1[0]
    for block in (plain, resnet):
        nn.init.zeros_(block.bn2.weight)
        block.eval()
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(resnet(x), torch.relu(x))
    assert torch.count_nonzero(plain(x)) == 0

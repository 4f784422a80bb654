"""ResNet against its paper and against torchvision's implementation."""
from __future__ import annotations

import pytest

from torchvision_reference import (assert_state_dict_layout_equals_torchvision,
                                   assert_torchvision_weights_give_identical_outputs)
from zoo.resnet import RESNET_DEPTHS

IMAGENET_NAMES = [f"resnet{depth}" for depth in RESNET_DEPTHS]


@pytest.mark.parametrize("name", IMAGENET_NAMES)
def test_state_dict_layout_equals_torchvision(name):
    assert_state_dict_layout_equals_torchvision(name)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_weights_give_identical_outputs(name):
    """The README's claim: a torchvision state_dict loads strictly and gives the same eval outputs."""
    assert_torchvision_weights_give_identical_outputs(name)

"""ResNet.

He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv:1512.03385).

Stage depths and block types come from the paper's Table 1 (``RESNET_DEPTHS``); one builder reads them.
Module names follow torchvision, so a torchvision ``state_dict`` loads with no key map.

Deviations from the paper, all shared with torchvision's reference implementation:
- Projection shortcuts (option B) only where shape changes; identity elsewhere.
- Bottleneck blocks stride in the 3x3 convolution ("ResNet v1.5"); the paper strides in the first 1x1.
- Global average pooling is adaptive, so any input at or above the minimum size works.
- ``zero_init_residual=True`` (off by default) zeroes each residual branch's last BN scale (Goyal et al. 2017).
Small-image variants (``resnet18_cifar`` ... ``resnet152_cifar``, not from the paper): these ImageNet ResNets
(64-512 filters; ``resnet18_cifar`` has 11.2M parameters) with a 3x3 stride-1 stem and no max pool, for 32x32
inputs. They are NOT the paper's CIFAR-10 networks: those are ``resnet20`` ... ``resnet1202`` in
``zoo.resnet_cifar`` (6n+2 layers, 16/32/64 filters, 0.27M-19.4M parameters).
"""

from __future__ import annotations

from functools import partial

import torch.nn as nn
from torch import Tensor

from .base import ZooModel
from .info import CIFAR_INPUT
from .registry import register_model

PAPER = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016, arXiv:1512.03385"


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(in_ch, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# Paper Table 1: (block type, blocks per stage conv2_x..conv5_x)
RESNET_DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)


class ResNet(ZooModel):
    first_conv_path = "conv1"
    classifier_path = "fc"

    def __init__(
        self,
        depth: int,
        num_classes: int = 1000,
        in_chans: int = 3,
        cifar_stem: bool = False,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        block, depths = RESNET_DEPTHS[depth]
        self.num_classes, self.in_chans = num_classes, in_chans
        if cifar_stem:
            self.conv1 = nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar_stem else nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = 64
        for i, (width, n_blocks) in enumerate(zip(STAGE_WIDTHS, depths)):
            stage, in_ch = self._make_stage(block, in_ch, width, n_blocks, stride=1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", stage)
        self.num_features = in_ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        self._init_weights(zero_init_residual)

    @staticmethod
    def _make_stage(block, in_ch: int, width: int, n_blocks: int, stride: int) -> tuple[nn.Sequential, int]:
        out_ch = width * block.expansion
        downsample = None
        if stride != 1 or in_ch != out_ch:
            downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))
        blocks = [block(in_ch, width, stride, downsample)] + [block(out_ch, width) for _ in range(n_blocks - 1)]
        return nn.Sequential(*blocks), out_ch

    def _init_weights(self, zero_init_residual: bool) -> None:
        self.init_torchvision_style(partial(nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu"))
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_bn().weight)

    def init_classifier(self, layer: nn.Linear) -> None:
        """PyTorch's default init, which a new ``nn.Linear`` already has (as in torchvision): nothing to redo."""

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.avgpool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def group_layout(self) -> list[tuple[str, list[str]]]:
        return [("stem", ["conv1", "bn1"])] + [(f"stage{i}", [f"layer{i}"]) for i in range(1, 5)] + [("head", ["fc"])]


_IMAGENET = {"family": "resnet", "paper": PAPER, "input_size": (3, 224, 224), "min_input_size": (3, 32, 32)}
_SMALL_IMAGES = {"family": "resnet", "paper": PAPER, "min_input_size": (3, 8, 8), **CIFAR_INPUT}


@register_model(ResNet, small_input_model="resnet18_cifar", **_IMAGENET)
def resnet18(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (Table 1: basic blocks 2-2-2-2)."""
    return ResNet(18, num_classes, in_chans, zero_init_residual=zero_init_residual)


@register_model(ResNet, **_SMALL_IMAGES)
def resnet18_cifar(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (ImageNet widths) with a 3x3 stride-1 stem and no max pool; not the paper's CIFAR net."""
    return ResNet(18, num_classes, in_chans, cifar_stem=True, zero_init_residual=zero_init_residual)


@register_model(ResNet, small_input_model="resnet34_cifar", **_IMAGENET)
def resnet34(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 (Table 1: basic blocks 3-4-6-3)."""
    return ResNet(34, num_classes, in_chans, zero_init_residual=zero_init_residual)


@register_model(ResNet, **_SMALL_IMAGES)
def resnet34_cifar(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 (ImageNet widths) with a 3x3 stride-1 stem and no max pool; not the paper's CIFAR net."""
    return ResNet(34, num_classes, in_chans, cifar_stem=True, zero_init_residual=zero_init_residual)


@register_model(ResNet, small_input_model="resnet50_cifar", **_IMAGENET)
def resnet50(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (Table 1: bottlenecks 3-4-6-3)."""
    return ResNet(50, num_classes, in_chans, zero_init_residual=zero_init_residual)


@register_model(ResNet, **_SMALL_IMAGES)
def resnet50_cifar(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (ImageNet widths) with a 3x3 stride-1 stem and no max pool; not the paper's CIFAR net."""
    return ResNet(50, num_classes, in_chans, cifar_stem=True, zero_init_residual=zero_init_residual)


@register_model(ResNet, small_input_model="resnet101_cifar", **_IMAGENET)
def resnet101(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-101 (Table 1: bottlenecks 3-4-23-3)."""
    return ResNet(101, num_classes, in_chans, zero_init_residual=zero_init_residual)


@register_model(ResNet, **_SMALL_IMAGES)
def resnet101_cifar(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-101 (ImageNet widths) with a 3x3 stride-1 stem and no max pool; not the paper's CIFAR net."""
    return ResNet(101, num_classes, in_chans, cifar_stem=True, zero_init_residual=zero_init_residual)


@register_model(ResNet, small_input_model="resnet152_cifar", **_IMAGENET)
def resnet152(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-152 (Table 1: bottlenecks 3-8-36-3)."""
    return ResNet(152, num_classes, in_chans, zero_init_residual=zero_init_residual)


@register_model(ResNet, **_SMALL_IMAGES)
def resnet152_cifar(num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-152 (ImageNet widths) with a 3x3 stride-1 stem and no max pool; not the paper's CIFAR net."""
    return ResNet(152, num_classes, in_chans, cifar_stem=True, zero_init_residual=zero_init_residual)

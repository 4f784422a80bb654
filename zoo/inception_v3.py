"""Inception v3.

Szegedy et al. "Rethinking the Inception Architecture for Computer Vision", CVPR 2016 (arXiv:1512.00567).

The network is a table of named layers (``INCEPTION_V3_LAYERS``) read by the builder in ``zoo.inception_blocks``,
which also documents the auxiliary-classifier behaviour.

Inception v3 (``inception_v3``): module names and structure are torchvision's ``Inception3`` with
``transform_input=False``, so its ``state_dict`` loads with ``strict=True`` and gives the same outputs.
27,161,264 parameters (23,834,568 without ``AuxLogits``), as torchvision.

Deviations of Inception v3 from the paper (all shared with torchvision, which follows Google's released model):
- Four Figure-6 modules at 17x17 (Mixed_6b-6e), where Table 1 lists five.
- The grid reductions are not quite Figure 10: Mixed_6a's single-conv branch is a 3x3/2 conv with no 1x1 in
  front, and Mixed_7a's second branch (1x1 192 -> 1x7 -> 7x1 -> 3x3/2 192) is in no figure of the paper.
- Stem after the first max pool: 1x1 conv (80) -> 3x3 conv (192) -> max pool 3x3/2, where Table 1 lists
  3x3 convs only.
- Mixed_5b-5d keep a 5x5 branch (1x1 48 -> 5x5 64) next to the double-3x3 branch; the paper's Figure 5 module
  replaces every 5x5 by two 3x3.
- Batch norm (eps=0.001, the TensorFlow default) after every bias-free convolution.
- Auxiliary head on Mixed_6e (the last 17x17 layer, as in the paper): average pool 5x5/3 -> 1x1 conv 128 -> 5x5
  conv 768 -> linear; it has no batch-normalised fully connected layer (the paper's "BN-auxiliary").
- ``aux_weights = (0.4,)``: torchvision's training reference; the paper gives no weight.
- Dropout 0.5 before the classifier (torchvision); adaptive final average pool.
- Initialisation (the paper gives none): truncated normal (cut at 2 sigma), sigma 0.1 for every conv/linear weight
  and 0.001 for the auxiliary classifier, zero linear biases (torchvision's effective sigmas; torchvision cuts
  at +-2 absolute, i.e. hardly at all).
Input scaling: like every zoo model it expects ImageNet mean/std-normalised inputs (``model.info.mean/std``).
Google's released weights, which torchvision publishes, were trained on inputs scaled to (x - 0.5) / 0.5;
``transform_input=True`` (torchvision's switch, default False, faithful to the paper) converts the normalised
input to that scaling first. ``create_model("inception_v3", pretrained=True)`` sets it, as torchvision does when
weights are requested, so its inputs stay ImageNet-normalised.

Deviation from torchvision: its auxiliary head needs a 17x17 Mixed_6e map (a valid 5x5 conv follows the 5x5/3
pool), i.e. inputs of at least 299x299 in training mode. Here maps below 5x5 before that pool and before that conv
are repeated up to 5x5 (``AtLeast``, the identity wherever torchvision's head runs), so the minimum input is
75x75 (torchvision's eval-mode minimum) in training mode too. Eval outputs equal torchvision's at every size,
training outputs wherever torchvision's head runs.
"""

from collections import OrderedDict
from functools import partial

import torch
import torch.nn as nn
from torch import Tensor

from .inception_blocks import (
    AtLeast,
    AuxHead,
    BasicConv2d,
    Block,
    Branch,
    ConvFactory,
    ConvSpec,
    InceptionNet,
    conv_1xn,
    conv_nx1,
    trunc_normal_2sigma,
)
from .info import IMAGENET_MEAN, IMAGENET_STD
from .registry import register_model

PAPER = "Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016, arXiv:1512.00567"

_avg_3s1 = partial(nn.AvgPool2d, 3, stride=1, padding=1)
_max_3s2 = partial(nn.MaxPool2d, 3, stride=2)


def v3_block_35(pool_proj: int) -> Block:
    """Figure 5 module (35x35), with the released model's extra 5x5 branch."""
    return (
        Branch("branch1x1", (ConvSpec(64, 1),)),
        Branch("branch5x5", (ConvSpec(48, 1), ConvSpec(64, 5, padding=2))),
        Branch("branch3x3dbl", (ConvSpec(64, 1), ConvSpec(96, 3, padding=1), ConvSpec(96, 3, padding=1))),
        Branch("branch_pool", (ConvSpec(pool_proj, 1),), _avg_3s1),
    )


def v3_block_17(c7: int) -> Block:
    """Figure 6 module (17x17): 7x7 convolutions factorised into 1x7 and 7x1."""
    return (
        Branch("branch1x1", (ConvSpec(192, 1),)),
        Branch("branch7x7", (ConvSpec(c7, 1), conv_1xn(c7, 7), conv_nx1(192, 7))),
        Branch("branch7x7dbl", (ConvSpec(c7, 1), conv_nx1(c7, 7), conv_1xn(c7, 7), conv_nx1(c7, 7), conv_1xn(192, 7))),
        Branch("branch_pool", (ConvSpec(192, 1),), _avg_3s1),
    )


_SPLIT_384 = (conv_1xn(384, 3), conv_nx1(384, 3))
V3_BLOCK_8 = (  # Figure 7 module (8x8): expanded filter banks
    Branch("branch1x1", (ConvSpec(320, 1),)),
    Branch("branch3x3", (ConvSpec(384, 1), _SPLIT_384)),
    Branch("branch3x3dbl", (ConvSpec(448, 1), ConvSpec(384, 3, padding=1), _SPLIT_384)),
    Branch("branch_pool", (ConvSpec(192, 1),), _avg_3s1),
)
V3_REDUCTION_35_TO_17 = (  # Figure 10 grid reduction, without the 1x1 before the single 3x3/2
    Branch("branch3x3", (ConvSpec(384, 3, 2),)),
    Branch("branch3x3dbl", (ConvSpec(64, 1), ConvSpec(96, 3, padding=1), ConvSpec(96, 3, 2))),
    Branch("branch_pool", (), _max_3s2),
)
V3_REDUCTION_17_TO_8 = (  # not in the paper's figures
    Branch("branch3x3", (ConvSpec(192, 1), ConvSpec(320, 3, 2))),
    Branch("branch7x7x3", (ConvSpec(192, 1), conv_1xn(192, 7), conv_nx1(192, 7), ConvSpec(192, 3, 2))),
    Branch("branch_pool", (), _max_3s2),
)

INCEPTION_V3_LAYERS = (
    (
        "stem",
        (
            ("Conv2d_1a_3x3", ConvSpec(32, 3, 2)),
            ("Conv2d_2a_3x3", ConvSpec(32, 3)),
            ("Conv2d_2b_3x3", ConvSpec(64, 3, padding=1)),
            ("maxpool1", _max_3s2),
            ("Conv2d_3b_1x1", ConvSpec(80, 1)),
            ("Conv2d_4a_3x3", ConvSpec(192, 3)),
            ("maxpool2", _max_3s2),
        ),
    ),
    ("stage5", (("Mixed_5b", v3_block_35(32)), ("Mixed_5c", v3_block_35(64)), ("Mixed_5d", v3_block_35(64)))),
    (
        "stage6",
        (
            ("Mixed_6a", V3_REDUCTION_35_TO_17),
            ("Mixed_6b", v3_block_17(128)),
            ("Mixed_6c", v3_block_17(160)),
            ("Mixed_6d", v3_block_17(160)),
            ("Mixed_6e", v3_block_17(192)),
        ),
    ),
    ("stage7", (("Mixed_7a", V3_REDUCTION_17_TO_8), ("Mixed_7b", V3_BLOCK_8), ("Mixed_7c", V3_BLOCK_8))),
)


def _aux_head(in_ch: int, conv: ConvFactory, num_classes: int) -> nn.Module:
    return nn.Sequential(
        OrderedDict(  # torchvision's key names
            fit_in=AtLeast(5),
            pool=nn.AvgPool2d(5, stride=3),
            conv0=conv(in_ch, ConvSpec(128, 1)),
            fit=AtLeast(5),
            conv1=conv(128, ConvSpec(768, 5)),
            gap=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(768, num_classes),
        )
    )


class InceptionV3(InceptionNet):
    first_conv_path = "Conv2d_1a_3x3.conv"
    aux_weights = (0.4,)

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5, transform_input: bool = False):
        super().__init__(
            num_classes,
            in_chans,
            INCEPTION_V3_LAYERS,
            partial(BasicConv2d, batch_norm=True, bn_eps=1e-3),
            [AuxHead("Mixed_6e", "AuxLogits", _aux_head)],
            dropout,
        )
        self.init_torchvision_style(partial(trunc_normal_2sigma, std=0.1))
        self.init_aux_classifier(self.AuxLogits.fc)
        self.transform_input = transform_input
        if transform_input:  # ImageNet-normalised x -> (x_raw - 0.5) / 0.5, per channel
            if in_chans != len(IMAGENET_MEAN):
                raise ValueError(f"transform_input=True needs in_chans={len(IMAGENET_MEAN)} (RGB), got {in_chans}")
            std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
            self.register_buffer("input_scale", (std / 0.5).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("input_shift", ((mean - 0.5) / 0.5).view(1, -1, 1, 1), persistent=False)

    def _run(self, x: Tensor, with_aux: bool) -> tuple[Tensor, list[Tensor]]:
        if self.transform_input:
            x = x * self.input_scale + self.input_shift
        return super()._run(x, with_aux)

    def init_classifier(self, layer: nn.Linear) -> None:
        trunc_normal_2sigma(layer.weight, 0.1)
        nn.init.zeros_(layer.bias)

    def init_aux_classifier(self, layer: nn.Linear) -> None:
        trunc_normal_2sigma(layer.weight, 0.001)
        nn.init.zeros_(layer.bias)


@register_model(InceptionV3, family="inception_v3", paper=PAPER, input_size=(3, 299, 299), min_input_size=(3, 75, 75))
def inception_v3(num_classes: int = 1000, in_chans: int = 3, transform_input: bool = False) -> InceptionV3:
    """Inception v3 (torchvision's module names); ``transform_input=True`` for Google's released weights."""
    return InceptionV3(num_classes, in_chans, transform_input=transform_input)

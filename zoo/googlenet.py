"""GoogLeNet (Inception v1).

Szegedy et al. "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842).

The network is a table of named layers (``GOOGLENET_BLOCKS`` for the inception modules) read by the builder in
``zoo.inception_blocks``, which also documents the auxiliary-classifier behaviour.

GoogLeNet (``googlenet``): Table 1 of the paper, ``GOOGLENET_BLOCKS``; ReLU after every conv, no batch norm,
true 5x5 convolutions. Parameters: 6,990,272 weights + 8,280 biases = 6,998,552 without the auxiliary heads,
13,378,280 with them (each head 3.19M, mostly its 2048x1024 FC layer). Table 1's parameter column counts weights
in units of K = 1024 (conv2+conv3: 112K = 114,688; linear: 1000K = 1,024,000) and sums to 6,797.7K; ours is
6,826.4K (+0.4%). Some rows of the table are off (conv1: 2.7K, actual 7*7*3*64 = 9.2K; 4c: 463K, actual 497.5K;
5a: 1072K, actual 1018K) while 3a/3b/4b agree to 1K.

Deviations and choices for GoogLeNet (the paper leaves these open or we adapt them):
- Local response normalisation (stem, twice): the paper gives no parameters; we use AlexNet's
  (n=5, alpha=1e-4, beta=0.75, k=2). ``nn.LocalResponseNorm`` divides alpha by n, so it gets alpha=5e-4.
- Max pools 3x3/2 round up (``ceil_mode=True``) so a 224 input gives Table 1's 112/56/28/14/7 grid; the branch
  max pool is 3x3/1 with padding 1.
- The final 7x7 average pool is adaptive, so smaller inputs run (identical at 224).
- Auxiliary heads (after 4a and 4d): average pool 5x5/3 as in the paper, then an adaptive 4x4 average pool so
  the 2048-wide FC layer fits any input size; at 224 the 14x14 map pools to exactly 4x4 and the adaptive step is
  the identity. Maps smaller than 5x5 (inputs below 79x79) are first repeated up to 5x5 (``AtLeast``), so the
  minimum input, 31x31, is the main network's, in training mode too. Loss weights ``aux_weights = (0.3, 0.3)``.
- Initialisation (paper gives none): Xavier-uniform conv/linear weights, zero biases.
- torchvision's ``googlenet`` uses 3x3 convolutions in the "5x5" branch and batch norm, so its weights are not
  loadable here (different shapes) and are not used.
``googlenet_cifar``: the same Table 1 blocks for 32x32 inputs: a 3x3 stem conv with 192 channels and no early
pooling or LRN, batch norm after every conv (not in the paper; it lets the net train fast without LRN/aux
tricks), no auxiliary heads, max pools after 3b and 4e (32->16->8), global average pool, dropout 0.4;
5,871,914 parameters at 10 classes; minimum input 4x4.
"""

from collections import OrderedDict
from functools import partial

import torch.nn as nn

from .inception_blocks import AtLeast, AuxHead, BasicConv2d, Block, Branch, ConvFactory, ConvSpec, Group, InceptionNet
from .info import CIFAR_INPUT
from .registry import register_model

PAPER = "Szegedy et al., Going Deeper with Convolutions, CVPR 2015, arXiv:1409.4842"

# Paper Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_BLOCKS: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}
GOOGLENET_AUX_TAPS = ("inception4a", "inception4d")

_max_3s2_ceil = partial(nn.MaxPool2d, 3, stride=2, ceil_mode=True)
_lrn = partial(nn.LocalResponseNorm, 5, alpha=5e-4, beta=0.75, k=2.0)  # AlexNet's; torch divides alpha by n


def googlenet_block(n1x1: int, n3x3red: int, n3x3: int, n5x5red: int, n5x5: int, pool_proj: int) -> Block:
    return (
        Branch("branch1x1", (ConvSpec(n1x1, 1),)),
        Branch("branch3x3", (ConvSpec(n3x3red, 1), ConvSpec(n3x3, 3, padding=1))),
        Branch("branch5x5", (ConvSpec(n5x5red, 1), ConvSpec(n5x5, 5, padding=2))),
        Branch("branch_pool", (ConvSpec(pool_proj, 1),), partial(nn.MaxPool2d, 3, stride=1, padding=1)),
    )


GOOGLENET_STEMS = {
    "imagenet": (
        ("conv1", ConvSpec(64, 7, 2, 3)),
        ("maxpool1", _max_3s2_ceil),
        ("lrn1", _lrn),
        ("conv2", ConvSpec(64, 1)),
        ("conv3", ConvSpec(192, 3, 1, 1)),
        ("lrn2", _lrn),
        ("maxpool2", _max_3s2_ceil),
    ),
    "cifar": (("conv1", ConvSpec(192, 3, 1, 1)),),
}


def googlenet_layers(stem: str) -> tuple[Group, ...]:
    blocks = {name: googlenet_block(*row) for name, row in GOOGLENET_BLOCKS.items()}
    return (
        ("stem", GOOGLENET_STEMS[stem]),
        ("stage3", [(name, blocks[name]) for name in ("inception3a", "inception3b")]),
        ("stage4", [("maxpool3", _max_3s2_ceil)] + [(f"inception4{c}", blocks[f"inception4{c}"]) for c in "abcde"]),
        ("stage5", [("maxpool4", _max_3s2_ceil)] + [(f"inception5{c}", blocks[f"inception5{c}"]) for c in "ab"]),
    )


def _aux_head(dropout: float):
    """Paper Section 5: average pool 5x5/3, 1x1 conv 128, FC 1024 + ReLU, dropout 0.7, linear classifier."""

    def build(in_ch: int, conv: ConvFactory, num_classes: int) -> nn.Module:
        return nn.Sequential(
            OrderedDict(
                fit_in=AtLeast(5),
                pool=nn.AvgPool2d(5, stride=3),
                fit_out=nn.AdaptiveAvgPool2d(4),  # identity at 224 (4x4 already); any size reaches the FC
                conv=conv(in_ch, ConvSpec(128, 1)),
                flatten=nn.Flatten(),
                fc1=nn.Linear(128 * 4 * 4, 1024),
                relu=nn.ReLU(inplace=True),
                dropout=nn.Dropout(dropout),
                fc=nn.Linear(1024, num_classes),
            )
        )

    return build


class GoogLeNet(InceptionNet):
    first_conv_path = "conv1.conv"
    aux_weights = (0.3, 0.3)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: str = "imagenet",
        batch_norm: bool = False,
        aux: bool = True,
        dropout: float = 0.4,
        aux_dropout: float = 0.7,
    ):
        aux_heads = [AuxHead(tap, f"aux{i + 1}", _aux_head(aux_dropout)) for i, tap in enumerate(GOOGLENET_AUX_TAPS)]
        super().__init__(
            num_classes,
            in_chans,
            googlenet_layers(stem),
            partial(BasicConv2d, batch_norm=batch_norm),
            aux_heads if aux else (),
            dropout,
        )
        if not aux:
            self.aux_weights = ()
        self.init_torchvision_style(nn.init.xavier_uniform_)

    def init_classifier(self, layer: nn.Linear) -> None:
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)


@register_model(
    GoogLeNet,
    family="googlenet",
    paper=PAPER,
    input_size=(3, 224, 224),
    min_input_size=(3, 31, 31),
    small_input_model="googlenet_cifar",
)
def googlenet(num_classes: int = 1000, in_chans: int = 3, aux: bool = True) -> GoogLeNet:
    """GoogLeNet as in the paper (LRN, no batch norm, true 5x5 convs, two auxiliary classifiers)."""
    return GoogLeNet(num_classes, in_chans, aux=aux)


@register_model(
    GoogLeNet,
    family="googlenet",
    paper=PAPER,
    min_input_size=(3, 4, 4),
    **CIFAR_INPUT,
)
def googlenet_cifar(num_classes: int = 10, in_chans: int = 3) -> GoogLeNet:
    """GoogLeNet's inception blocks for 32x32 inputs: 3x3 stem, batch norm, no LRN, no auxiliary heads."""
    return GoogLeNet(num_classes, in_chans, stem="cifar", batch_norm=True, aux=False)

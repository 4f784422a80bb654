"""BN-Inception (Inception v2).

Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
ICML 2015 (arXiv:1502.03167), Appendix, Figure 5.

``bn_inception``: GoogLeNet changed as the paper's Figure 5 table (``BN_INCEPTION_BLOCKS``), read by the builder
in ``zoo.inception_blocks``: a depthwise-separable first convolution (depth multiplier 8), every 5x5 convolution
replaced by two 3x3 ("double 3x3"), three 28x28 modules, average or max pooling inside the modules as the table
says, and no pooling layers between modules: the stride-2 modules 3c and 4e reduce the grid with a stride-2 3x3
branch, a stride-2 double-3x3 branch and a max pool passed through without a projection. Batch normalisation
directly before every ReLU, no local response normalisation, no auxiliary classifiers. Output grid at 224x224:
112 (conv1), 56, 28 (stem), 14 (after 3c), 7 (after 4e), 1024 features.
11,278,528 parameters at 1000 classes (10,253,528 without the final layer); with ``separable_stem=False``
11,285,224.

Deviations and choices (the paper leaves these open or we adapt them):
- The table's output-size column does not follow its own filter counts: 4c and 4d concatenate 608 channels
  (160+160+160+128, 96+192+192+128), so 4e outputs 192+256+608 = 1056, where the table says 576 and 1024; and
  for 3c and 4e it gives the grid of the module's input (28, 14), not of its output (14, 7). We follow the filter
  counts, as does the Caffe model ported to PyTorch by pretrainedmodels.
- Convolutions have no bias (batch norm follows each). The Caffe port has a full 7x7 first convolution
  (``separable_stem=False``) and redundant conv biases (+10,016 parameters). Batch norm eps 1e-5, PyTorch's
  default (the paper does not give one). The separable first convolution is TensorFlow's ``separable_conv2d``:
  depthwise 7x7/2 (3 x 8 filters), 1x1 to 64, then batch norm and ReLU.
- Stem max pools round up (``ceil_mode=True``, as GoogLeNet and the Caffe model) to give 56 and 28 at 224. The
  stride-2 modules' max pool pads by 1 like their stride-2 convolutions, so every branch has the same grid at
  every input size; the Caffe model's round-up pool gives the same sizes at 224, its windows one pixel over.
- No dropout by default (Section 4.2.1 removes it from the batch-normalised networks); ``dropout`` sets one
  before the classifier. Adaptive final average pool, so inputs from 7x7 run.
- Initialisation (the paper gives none): He-normal convolutions (fan-out), PyTorch's default linear layer.
- Input normalisation: ImageNet mean/std (the Caffe model subtracts a BGR mean in [0, 255]).
"""

from functools import partial

import torch.nn as nn

from .inception_blocks import BasicConv2d, Block, Branch, ConvSpec, Group, InceptionNet, SeparableConvSpec
from .registry import register_model

PAPER = (
    "Ioffe & Szegedy, Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate "
    "Shift, ICML 2015, arXiv:1502.03167"
)

# Figure 5 table: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool ("avg"/"max"), pool proj
# (0: pass through), stride.
BN_INCEPTION_BLOCKS: dict[str, tuple[int, int, int, int, int, str, int, int]] = {
    "inception3a": (64, 64, 64, 64, 96, "avg", 32, 1),
    "inception3b": (64, 64, 96, 64, 96, "avg", 64, 1),
    "inception3c": (0, 128, 160, 64, 96, "max", 0, 2),
    "inception4a": (224, 64, 96, 96, 128, "avg", 128, 1),
    "inception4b": (192, 96, 128, 96, 128, "avg", 128, 1),
    "inception4c": (160, 128, 160, 128, 160, "avg", 128, 1),
    "inception4d": (96, 128, 192, 160, 192, "avg", 128, 1),
    "inception4e": (0, 128, 192, 192, 256, "max", 0, 2),
    "inception5a": (352, 192, 320, 160, 224, "avg", 128, 1),
    "inception5b": (352, 192, 320, 192, 224, "max", 128, 1),
}
_POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}
_max_3s2_ceil = partial(nn.MaxPool2d, 3, stride=2, ceil_mode=True)


def bn_inception_block(
    n1x1: int, n3x3red: int, n3x3: int, ndblred: int, ndbl: int, pool: str, pool_proj: int, stride: int
) -> Block:
    branches = (
        Branch("branch3x3", (ConvSpec(n3x3red, 1), ConvSpec(n3x3, 3, stride, 1))),
        Branch("branch3x3dbl", (ConvSpec(ndblred, 1), ConvSpec(ndbl, 3, 1, 1), ConvSpec(ndbl, 3, stride, 1))),
        Branch(
            "branch_pool",
            (ConvSpec(pool_proj, 1),) if pool_proj else (),
            partial(_POOLS[pool], 3, stride=stride, padding=1),
        ),
    )
    return ((Branch("branch1x1", (ConvSpec(n1x1, 1),)),) if n1x1 else ()) + branches


def bn_inception_layers(separable_stem: bool) -> tuple[Group, ...]:
    blocks = {name: bn_inception_block(*row) for name, row in BN_INCEPTION_BLOCKS.items()}
    conv1 = SeparableConvSpec(64, 7, 2, 3, depth_multiplier=8) if separable_stem else ConvSpec(64, 7, 2, 3)
    return (
        (
            "stem",
            (
                ("conv1", conv1),
                ("maxpool1", _max_3s2_ceil),
                ("conv2_reduce", ConvSpec(64, 1)),
                ("conv2", ConvSpec(192, 3, 1, 1)),
                ("maxpool2", _max_3s2_ceil),
            ),
        ),
        ("stage1", [(f"inception3{c}", blocks[f"inception3{c}"]) for c in "abc"]),
        ("stage2", [(f"inception4{c}", blocks[f"inception4{c}"]) for c in "abcde"]),
        ("stage3", [(f"inception5{c}", blocks[f"inception5{c}"]) for c in "ab"]),
    )


class BNInception(InceptionNet):
    first_conv_path = "conv1.conv"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.0, separable_stem: bool = True):
        super().__init__(
            num_classes,
            in_chans,
            bn_inception_layers(separable_stem),
            partial(BasicConv2d, batch_norm=True),
            dropout=dropout,
        )
        self.init_torchvision_style(partial(nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu"))


@register_model(BNInception, family="bn_inception", paper=PAPER, input_size=(3, 224, 224), min_input_size=(3, 7, 7))
def bn_inception(
    num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.0, separable_stem: bool = True
) -> BNInception:
    """BN-Inception (the paper's Figure 5 table); ``separable_stem=False``: the Caffe model's full 7x7 first conv."""
    return BNInception(num_classes, in_chans, dropout, separable_stem)

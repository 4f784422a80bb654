"""GoogLeNet (Inception v1) and Inception v3.

Szegedy et al. "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842).
Szegedy et al. "Rethinking the Inception Architecture for Computer Vision", CVPR 2016 (arXiv:1512.00567).

Both networks are tables of named layers read by one builder. An inception block is a list of branches;
a branch is an optional pooling layer followed by conv specs ``(out_ch, kernel, stride, padding)``,
where a tuple of specs is a split stage whose outputs are concatenated (Inception v3's 1x3 / 3x1 pairs).
Branch convs are named ``<branch>`` (one conv) or ``<branch>_1, <branch>_2, ...`` (``_2a``/``_2b`` for a
split), which reproduces torchvision's ``Inception3`` state-dict keys exactly.

Auxiliary classifiers: in training mode ``forward`` returns ``ClassifierOutput(logits, aux_logits)`` with one
tensor per entry of ``aux_weights``; in eval mode it returns the logits tensor. ``reset_classifier(n)``
replaces the final linear layer of the main head and of every auxiliary head; ``reset_classifier(0)``
removes the auxiliary heads for good (a feature extractor has no classes to supervise) and empties
``aux_weights``; a later ``reset_classifier(n > 0)`` does not bring them back.

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

Inception v3 (``inception_v3``): module names and structure are torchvision's ``Inception3`` with
``transform_input=False``, so its ``state_dict`` loads with ``strict=True`` and gives the same outputs.
27,161,264 parameters (23,834,568 without ``AuxLogits``), as torchvision.

Deviations of Inception v3 from the paper (all shared with torchvision, which follows Google's released model):
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
Deviation from torchvision: its auxiliary head needs a 17x17 Mixed_6e map (a valid 5x5 conv follows the 5x5/3
pool), i.e. inputs of at least 299x299 in training mode. Here maps below 5x5 before that pool and before that conv
are repeated up to 5x5 (``AtLeast``, the identity wherever torchvision's head runs), so the minimum input is
75x75 (torchvision's eval-mode minimum) in training mode too. Eval outputs equal torchvision's at every size,
training outputs wherever torchvision's head runs.

Input scaling of Inception v3: like every zoo model it expects ImageNet mean/std-normalised inputs
(``model.info.mean/std``). Google's released weights, which torchvision publishes, were trained on inputs scaled
to (x - 0.5) / 0.5; ``transform_input=True`` (torchvision's switch, default False, faithful to the paper) converts
the normalised input to that scaling first. ``create_model("inception_v3", pretrained=True)`` sets it, as
torchvision does when weights are requested, so its inputs stay ImageNet-normalised.
"""
from collections import OrderedDict
from functools import partial
from typing import Callable, NamedTuple, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import ClassifierOutput, ZooModel
from .registry import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, register_model

GOOGLENET_PAPER = "Szegedy et al., Going Deeper with Convolutions, CVPR 2015, arXiv:1409.4842"
INCEPTION_V3_PAPER = (
    "Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016, arXiv:1512.00567"
)


class ConvSpec(NamedTuple):
    out_ch: int
    kernel: int | tuple[int, int]
    stride: int = 1
    padding: int | tuple[int, int] = 0


Stage = Union[ConvSpec, tuple[ConvSpec, ...]]  # a tuple of specs runs in parallel; outputs are concatenated


class Branch(NamedTuple):
    name: str
    convs: tuple[Stage, ...] = ()
    pool: Callable[[], nn.Module] | None = None  # factory of a pooling layer applied before the convs


Block = tuple[Branch, ...]
# A network layer: a conv, an inception block, or a factory of a parameter-free module (pool, LRN).
LayerSpec = Union[ConvSpec, Block, Callable[[], nn.Module]]


class BasicConv2d(nn.Module):
    """Conv -> (batch norm) -> ReLU; the conv has a bias only without batch norm."""

    def __init__(self, in_ch: int, spec: ConvSpec, batch_norm: bool, bn_eps: float = 1e-5):
        super().__init__()
        out_ch, kernel, stride, padding = spec
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_ch, eps=bn_eps) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


ConvFactory = Callable[[int, ConvSpec], nn.Module]


class AtLeast(nn.Module):
    """Identity on maps of at least ``size`` x ``size``; smaller maps are repeated up to that size (adaptive average
    pooling onto a finer grid copies pixels), so the fixed-size auxiliary heads also run on small inputs."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return at_least(x, self.size)


def at_least(x: Tensor, size: int) -> Tensor:
    """``AtLeast``'s work; a torch.fx leaf (``torch.fx.wrap``) because it branches on the map size."""
    h, w = x.shape[-2], x.shape[-1]
    return F.adaptive_avg_pool2d(x, [max(h, size), max(w, size)])


torch.fx.wrap("at_least")


class InceptionBlock(nn.Module):
    """Parallel branches concatenated along channels; the branch convs are direct children (flat names)."""

    def __init__(self, in_ch: int, branches: Block, conv: ConvFactory):
        super().__init__()
        self.branches: list[tuple[str | None, tuple[tuple[str, ...], ...]]] = []  # (pool key, conv names per stage)
        self.pools = nn.ModuleDict({b.name: b.pool() for b in branches if b.pool is not None})
        self.out_channels = 0
        for branch in branches:
            ch, stages = in_ch, []
            for i, stage in enumerate(branch.convs):
                specs = (stage,) if isinstance(stage, ConvSpec) else stage
                base = branch.name if len(branch.convs) == 1 else f"{branch.name}_{i + 1}"
                names = (base,) if len(specs) == 1 else tuple(f"{base}{'ab'[j]}" for j in range(len(specs)))
                for name, spec in zip(names, specs):
                    self.add_module(name, conv(ch, spec))
                stages.append(names)
                ch = sum(spec.out_ch for spec in specs)
            self.branches.append((None if branch.pool is None else branch.name, tuple(stages)))
            self.out_channels += ch

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for pool, stages in self.branches:
            y = x if pool is None else self.pools[pool](x)
            for names in stages:
                parts = [self._modules[name](y) for name in names]
                y = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
            outs.append(y)
        return torch.cat(outs, 1)


class InceptionNet(ZooModel):
    """Named layers run in order; in training mode the auxiliary heads read the outputs of their tap layers.

    Subclasses call ``_build_layers``, ``_add_aux_head`` and set ``avgpool``, ``dropout``, ``fc``.
    """

    classifier_path = "fc"

    def _build_layers(self, in_ch: int, groups: Sequence[tuple[str, Sequence[tuple[str, LayerSpec]]]],
                      conv: ConvFactory) -> dict[str, int]:
        """Add every layer of ``groups`` (group name, (layer name, spec)...); returns each layer's out channels."""
        channels, self._groups, self._layers, self._aux_taps = {}, [], (), {}
        for group, layers in groups:
            for name, spec in layers:
                if isinstance(spec, ConvSpec):
                    module, in_ch = conv(in_ch, spec), spec.out_ch
                elif isinstance(spec, tuple):
                    module = InceptionBlock(in_ch, spec, conv)
                    in_ch = module.out_channels
                else:
                    module = spec()
                self.add_module(name, module)
                channels[name] = in_ch
            self._groups.append((group, [name for name, _ in layers]))
            self._layers += tuple(name for name, _ in layers)
        self.num_features = in_ch
        return channels

    def _add_aux_head(self, tap: str, name: str, head: nn.Module) -> None:
        """``head`` runs on the output of layer ``tap``; its final linear layer must be called ``fc``."""
        self.add_module(name, head)
        self._aux_taps[tap] = name

    def _run(self, x: Tensor, with_aux: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
        aux = []
        for name in self._layers:
            x = self._modules[name](x)
            if with_aux and name in self._aux_taps:
                aux.append(self._modules[self._aux_taps[name]](x))
        return x, tuple(aux)

    def forward_features(self, x: Tensor) -> Tensor:
        return self._run(x, with_aux=False)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.avgpool(x).flatten(1)
        return x if pre_logits else self.fc(self.dropout(x))

    def forward(self, x: Tensor) -> Tensor | ClassifierOutput:
        self.check_eager_input(x)
        x, aux = self._run(x, with_aux=self.training)
        if self.global_pool == "":
            return x
        logits = self.forward_head(x)
        return ClassifierOutput(logits, aux) if aux else logits

    def init_aux_classifier(self, layer: nn.Linear) -> None:
        self.init_classifier(layer)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        super().reset_classifier(num_classes, global_pool)
        for name in self._aux_taps.values():
            if num_classes == 0:
                delattr(self, name)
            else:
                head = self._modules[name]
                head.fc = self.new_linear(head.fc.in_features, num_classes, self.init_aux_classifier)
        if num_classes == 0:
            self._aux_taps, self.aux_weights = {}, ()

    def group_layout(self) -> list[tuple[str, list[str]]]:
        return self._groups + [("head", ["fc", *self._aux_taps.values()])]


def _trunc_normal(weight: Tensor, std: float) -> None:
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


# ----------------------------------------------------------------------------------------------------------------
# GoogLeNet
# ----------------------------------------------------------------------------------------------------------------

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


GOOGLENET_STEMS: dict[str, tuple[tuple[str, LayerSpec], ...]] = {
    "imagenet": (
        ("conv1", ConvSpec(64, 7, 2, 3)), ("maxpool1", _max_3s2_ceil), ("lrn1", _lrn),
        ("conv2", ConvSpec(64, 1)), ("conv3", ConvSpec(192, 3, 1, 1)), ("lrn2", _lrn), ("maxpool2", _max_3s2_ceil),
    ),
    "cifar": (("conv1", ConvSpec(192, 3, 1, 1)),),
}


class GoogLeNet(InceptionNet):
    first_conv_path = "conv1.conv"
    aux_weights = (0.3, 0.3)

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, stem: str = "imagenet",
                 batch_norm: bool = False, aux: bool = True, dropout: float = 0.4, aux_dropout: float = 0.7):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        conv = partial(BasicConv2d, batch_norm=batch_norm)
        blocks = {name: googlenet_block(*row) for name, row in GOOGLENET_BLOCKS.items()}
        channels = self._build_layers(in_chans, [
            ("stem", GOOGLENET_STEMS[stem]),
            ("stage3", [(name, blocks[name]) for name in ("inception3a", "inception3b")]),
            ("stage4", [("maxpool3", _max_3s2_ceil)] + [(f"inception4{c}", blocks[f"inception4{c}"]) for c in "abcde"]),
            ("stage5", [("maxpool4", _max_3s2_ceil)] + [(f"inception5{c}", blocks[f"inception5{c}"]) for c in "ab"]),
        ], conv)
        if aux:
            for i, tap in enumerate(GOOGLENET_AUX_TAPS):
                self._add_aux_head(tap, f"aux{i + 1}", nn.Sequential(OrderedDict(
                    fit_in=AtLeast(5),
                    pool=nn.AvgPool2d(5, stride=3),
                    fit_out=nn.AdaptiveAvgPool2d(4),  # identity at 224 (4x4 already); any size reaches the FC
                    conv=conv(channels[tap], ConvSpec(128, 1)),
                    flatten=nn.Flatten(),
                    fc1=nn.Linear(128 * 4 * 4, 1024),
                    relu=nn.ReLU(inplace=True),
                    dropout=nn.Dropout(aux_dropout),
                    fc=nn.Linear(1024, num_classes),
                )))
        else:
            self.aux_weights = ()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def init_classifier(self, layer: nn.Linear) -> None:
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)


@register_model(GoogLeNet, paper=GOOGLENET_PAPER, input_size=(3, 224, 224), min_input_size=(3, 31, 31),
                small_input_model="googlenet_cifar")
def googlenet(num_classes: int = 1000, in_chans: int = 3, aux: bool = True) -> GoogLeNet:
    """GoogLeNet as in the paper (LRN, no batch norm, true 5x5 convs, two auxiliary classifiers)."""
    return GoogLeNet(num_classes, in_chans, aux=aux)


@register_model(GoogLeNet, paper=GOOGLENET_PAPER, input_size=(3, 32, 32), min_input_size=(3, 4, 4),
                mean=CIFAR10_MEAN, std=CIFAR10_STD, num_classes=10, tags=("cifar",))
def googlenet_cifar(num_classes: int = 10, in_chans: int = 3) -> GoogLeNet:
    """GoogLeNet's inception blocks for 32x32 inputs: 3x3 stem, batch norm, no LRN, no auxiliary heads."""
    return GoogLeNet(num_classes, in_chans, stem="cifar", batch_norm=True, aux=False)


# ----------------------------------------------------------------------------------------------------------------
# Inception v3 (torchvision's Inception3 layout)
# ----------------------------------------------------------------------------------------------------------------

_avg_3s1 = partial(nn.AvgPool2d, 3, stride=1, padding=1)
_max_3s2 = partial(nn.MaxPool2d, 3, stride=2)


def _1xn(out_ch: int, n: int) -> ConvSpec:
    return ConvSpec(out_ch, (1, n), padding=(0, n // 2))


def _nx1(out_ch: int, n: int) -> ConvSpec:
    return ConvSpec(out_ch, (n, 1), padding=(n // 2, 0))


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
        Branch("branch7x7", (ConvSpec(c7, 1), _1xn(c7, 7), _nx1(192, 7))),
        Branch("branch7x7dbl", (ConvSpec(c7, 1), _nx1(c7, 7), _1xn(c7, 7), _nx1(c7, 7), _1xn(192, 7))),
        Branch("branch_pool", (ConvSpec(192, 1),), _avg_3s1),
    )


_SPLIT_384 = (_1xn(384, 3), _nx1(384, 3))
V3_BLOCK_8 = (  # Figure 7 module (8x8): expanded filter banks
    Branch("branch1x1", (ConvSpec(320, 1),)),
    Branch("branch3x3", (ConvSpec(384, 1), _SPLIT_384)),
    Branch("branch3x3dbl", (ConvSpec(448, 1), ConvSpec(384, 3, padding=1), _SPLIT_384)),
    Branch("branch_pool", (ConvSpec(192, 1),), _avg_3s1),
)
V3_REDUCTION_35_TO_17 = (  # Figure 10 grid reduction
    Branch("branch3x3", (ConvSpec(384, 3, 2),)),
    Branch("branch3x3dbl", (ConvSpec(64, 1), ConvSpec(96, 3, padding=1), ConvSpec(96, 3, 2))),
    Branch("branch_pool", (), _max_3s2),
)
V3_REDUCTION_17_TO_8 = (
    Branch("branch3x3", (ConvSpec(192, 1), ConvSpec(320, 3, 2))),
    Branch("branch7x7x3", (ConvSpec(192, 1), _1xn(192, 7), _nx1(192, 7), ConvSpec(192, 3, 2))),
    Branch("branch_pool", (), _max_3s2),
)

INCEPTION_V3_LAYERS: tuple[tuple[str, tuple[tuple[str, LayerSpec], ...]], ...] = (
    ("stem", (
        ("Conv2d_1a_3x3", ConvSpec(32, 3, 2)), ("Conv2d_2a_3x3", ConvSpec(32, 3)),
        ("Conv2d_2b_3x3", ConvSpec(64, 3, padding=1)), ("maxpool1", _max_3s2),
        ("Conv2d_3b_1x1", ConvSpec(80, 1)), ("Conv2d_4a_3x3", ConvSpec(192, 3)),
        ("maxpool2", _max_3s2),
    )),
    ("stage5", (("Mixed_5b", v3_block_35(32)), ("Mixed_5c", v3_block_35(64)), ("Mixed_5d", v3_block_35(64)))),
    ("stage6", (
        ("Mixed_6a", V3_REDUCTION_35_TO_17), ("Mixed_6b", v3_block_17(128)), ("Mixed_6c", v3_block_17(160)),
        ("Mixed_6d", v3_block_17(160)), ("Mixed_6e", v3_block_17(192)),
    )),
    ("stage7", (("Mixed_7a", V3_REDUCTION_17_TO_8), ("Mixed_7b", V3_BLOCK_8), ("Mixed_7c", V3_BLOCK_8))),
)


class InceptionV3(InceptionNet):
    first_conv_path = "Conv2d_1a_3x3.conv"
    aux_weights = (0.4,)

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5, transform_input: bool = False):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.transform_input = transform_input
        if transform_input:  # ImageNet-normalised x -> (x_raw - 0.5) / 0.5, per channel
            if in_chans != len(IMAGENET_MEAN):
                raise ValueError(f"transform_input=True needs in_chans={len(IMAGENET_MEAN)} (RGB), got {in_chans}")
            std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
            self.register_buffer("input_scale", (std / 0.5).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("input_shift", ((mean - 0.5) / 0.5).view(1, -1, 1, 1), persistent=False)
        conv = partial(BasicConv2d, batch_norm=True, bn_eps=1e-3)
        channels = self._build_layers(in_chans, INCEPTION_V3_LAYERS, conv)
        self._add_aux_head("Mixed_6e", "AuxLogits", nn.Sequential(OrderedDict(  # torchvision's key names
            fit_in=AtLeast(5),
            pool=nn.AvgPool2d(5, stride=3),
            conv0=conv(channels["Mixed_6e"], ConvSpec(128, 1)),
            fit=AtLeast(5),
            conv1=conv(128, ConvSpec(768, 5)),
            gap=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(768, num_classes),
        )))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                _trunc_normal(m.weight, 0.1)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.init_aux_classifier(self.AuxLogits.fc)

    def init_classifier(self, layer: nn.Linear) -> None:
        _trunc_normal(layer.weight, 0.1)
        nn.init.zeros_(layer.bias)

    def init_aux_classifier(self, layer: nn.Linear) -> None:
        _trunc_normal(layer.weight, 0.001)
        nn.init.zeros_(layer.bias)

    def _run(self, x: Tensor, with_aux: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.transform_input:
            x = x * self.input_scale + self.input_shift
        return super()._run(x, with_aux)


@register_model(InceptionV3, paper=INCEPTION_V3_PAPER, input_size=(3, 299, 299), min_input_size=(3, 75, 75))
def inception_v3(num_classes: int = 1000, in_chans: int = 3, transform_input: bool = False) -> InceptionV3:
    """Inception v3 with torchvision's module names (its state_dict loads strictly), auxiliary head on Mixed_6e.
    ``transform_input=True``: rescale ImageNet-normalised inputs as Google's released weights expect."""
    return InceptionV3(num_classes, in_chans, transform_input=transform_input)

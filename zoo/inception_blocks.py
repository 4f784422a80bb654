"""Building blocks of the Inception family: layer specs, conv-BN-ReLU, inception modules, and the one builder.

Worked example: how one table row becomes modules and state-dict names. Inception v3's table
(``zoo.inception_v3``) has, in its group ``"stage5"``, the row ``("Mixed_5b", v3_block_35(pool_proj=32))``, i.e.

    ("Mixed_5b", (                                                      # a tuple of Branch: an inception block
        Branch("branch1x1",    (ConvSpec(64, 1),)),
        Branch("branch5x5",    (ConvSpec(48, 1), ConvSpec(64, 5, padding=2))),
        Branch("branch3x3dbl", (ConvSpec(64, 1), ConvSpec(96, 3, padding=1), ConvSpec(96, 3, padding=1))),
        Branch("branch_pool",  (ConvSpec(32, 1),), pool=avg_3x3_stride1),
    ))

``InceptionNet`` passes it to ``build_layer(192, row, conv)`` (192 = the previous layer's channels), which builds an
``InceptionBlock`` registered as ``model.Mixed_5b``; each conv is ``conv(in_ch, spec)`` = ``BasicConv2d`` (its
``conv``, ``bn``, ``relu``); a branch of one conv takes the branch name, longer ones get ``_1, _2, ...``:

    Mixed_5b.branch1x1.conv.weight        (64, 192, 1, 1)   Mixed_5b.branch3x3dbl_1.conv.weight  (64, 192, 1, 1)
    Mixed_5b.branch5x5_1.conv.weight      (48, 192, 1, 1)   Mixed_5b.branch3x3dbl_2.conv.weight  (96, 64, 3, 3)
    Mixed_5b.branch5x5_2.conv.weight      (64, 48, 5, 5)    Mixed_5b.branch3x3dbl_3.conv.weight  (96, 96, 3, 3)
    Mixed_5b.branch_pool.conv.weight      (32, 192, 1, 1)   (+ .bn.weight/.bias/.running_mean/... of each)

``Mixed_5b.branch_pool_pool`` is the parameter-free average pool in front of ``branch_pool``. The four branch outputs
are concatenated: 64 + 64 + 96 + 32 = 256 channels, the next row's input. These are torchvision's ``Inception3``
names, so its state_dict loads strictly. ``group_layout()`` puts ``Mixed_5b`` in the group ``stage5``.

A network is a table of named layers in groups; ``InceptionNet`` builds it. A layer spec is a conv
(``ConvSpec``, or ``SeparableConvSpec`` for a depthwise-separable one), an inception block (a tuple of
``Branch``), a residual inception block (``Residual``), or a factory of a parameter-free module (pool, LRN).
A branch is an optional pooling layer followed by conv stages;
a stage is one ``ConvSpec`` or a tuple of them run on the same input and concatenated (a "split" stage, as
Inception v3's expanded filter banks). Branch convs are named ``<branch>`` (one conv) or ``<branch>_1, _2, ...``
(``_2a``/``_2b`` for a split), which reproduces torchvision's ``Inception3`` state-dict keys; a branch's pooling
layer is named ``<branch>_pool`` (it has no parameters).

Auxiliary classifiers: in training mode ``forward`` returns ``ClassifierOutput(logits, aux_logits)`` with one
tensor per entry of ``aux_weights``; in eval mode it returns the logits tensor. ``reset_classifier(n)``
replaces the final linear layer of the main head and of every auxiliary head; ``reset_classifier(0)``
removes the auxiliary heads for good (a feature extractor has no classes to supervise) and empties
``aux_weights``; a later ``reset_classifier(n > 0)`` does not bring them back.

Forward passes iterate the children in registration order and look names up in lists and dicts, so they
script with TorchScript, trace, export and compile without Python branching on tensor shapes.

Deviations (of what is built here, for every network of the family; each network's module lists its own):
- ``AtLeast`` repeats feature maps smaller than an auxiliary head's pooling window up to its size, so training
  runs at every input the main path accepts; wherever the paper's head runs it is the identity.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import ClassifierOutput, ZooModel

INCEPTION_MEAN = (0.5, 0.5, 0.5)  # TF-slim's Inception preprocessing scales pixels to [-1, 1]
INCEPTION_STD = (0.5, 0.5, 0.5)


class ConvSpec(NamedTuple):
    out_ch: int
    kernel: int | tuple[int, int]
    stride: int = 1
    padding: int | tuple[int, int] = 0


class SeparableConvSpec(NamedTuple):
    """A depthwise conv with ``depth_multiplier`` filters per input channel, then a 1x1 conv to ``out_ch``."""

    out_ch: int
    kernel: int
    stride: int
    padding: int
    depth_multiplier: int


Stage = ConvSpec | tuple[ConvSpec, ...]  # a tuple of specs runs in parallel; outputs are concatenated


class Branch(NamedTuple):
    name: str
    convs: tuple[Stage, ...] = ()
    pool: Callable[[], nn.Module] | None = None  # factory of a pooling layer applied before the convs


Block = tuple[Branch, ...]


class Residual(NamedTuple):
    """An Inception-ResNet block: ``x + scale * project(concat(branches(x)))``, then ReLU when ``activate``."""

    branches: Block
    scale: float
    activate: bool = True


# A network layer: a conv, an inception block, a residual block, or a factory of a parameter-free module.
LayerSpec = ConvSpec | SeparableConvSpec | Block | Residual | Callable[[], nn.Module]
Group = tuple[str, Sequence[tuple[str, LayerSpec]]]  # (group name, (layer name, spec) ...)


def conv_1xn(out_ch: int, n: int) -> ConvSpec:
    return ConvSpec(out_ch, (1, n), padding=(0, n // 2))


def conv_nx1(out_ch: int, n: int) -> ConvSpec:
    return ConvSpec(out_ch, (n, 1), padding=(n // 2, 0))


def repeat(prefix: str, suffixes: Iterable[object], spec: LayerSpec) -> list[tuple[str, LayerSpec]]:
    """Layers of the same spec named ``<prefix><suffix>`` for each suffix."""
    return [(f"{prefix}{suffix}", spec) for suffix in suffixes]


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


class SeparableConv2d(nn.Module):
    """Depthwise conv -> 1x1 conv -> batch norm -> ReLU (TensorFlow's ``separable_conv2d``); no biases."""

    def __init__(self, in_ch: int, spec: SeparableConvSpec):
        super().__init__()
        depth = in_ch * spec.depth_multiplier
        self.conv = nn.Conv2d(in_ch, depth, spec.kernel, spec.stride, spec.padding, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(depth, spec.out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(spec.out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.pointwise(self.conv(x))))


@torch.fx.wrap  # a leaf for torch.fx: its size arithmetic needs concrete shapes
def at_least(x: Tensor, size: int) -> Tensor:
    h, w = x.shape[-2], x.shape[-1]
    return F.adaptive_avg_pool2d(x, (max(h, size), max(w, size)))


class AtLeast(nn.Module):
    """Identity on maps of at least ``size`` x ``size``; smaller maps are repeated up to that size (adaptive average
    pooling onto a finer grid copies pixels), so the fixed-size auxiliary heads also run on small inputs."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return at_least(x, self.size)


class InceptionBlock(nn.Module):
    """Parallel branches concatenated along channels; pools and branch convs are direct children (flat names)."""

    branch_starts: list[str]  # the first child of each branch
    split_members: dict[str, bool]  # convs of a split stage -> whether it is the stage's last one

    def __init__(self, in_ch: int, branches: Block, conv: ConvFactory):
        super().__init__()
        self.branch_starts, self.split_members, self.out_channels = [], {}, 0
        for branch in branches:
            first = len(self._modules)
            if branch.pool is not None:
                self.add_module(f"{branch.name}_pool", branch.pool())
            ch = in_ch
            for i, stage in enumerate(branch.convs):
                specs = (stage,) if isinstance(stage, ConvSpec) else stage
                base = branch.name if len(branch.convs) == 1 else f"{branch.name}_{i + 1}"
                for j, spec in enumerate(specs):
                    name = base if len(specs) == 1 else f"{base}{'abcd'[j]}"
                    self.add_module(name, conv(ch, spec))
                    if len(specs) > 1:
                        self.split_members[name] = j == len(specs) - 1
                ch = sum(spec.out_ch for spec in specs)
            self.branch_starts.append(list(self._modules)[first])
            self.out_channels += ch

    def forward(self, x: Tensor) -> Tensor:
        outs: list[Tensor] = []  # starts with a placeholder: every branch start pushes the previous branch's output
        parts: list[Tensor] = []
        y = x
        for name, layer in self.named_children():
            if name in self.branch_starts:
                outs.append(y)
                y = x
            if name in self.split_members:
                parts.append(layer(y))
                if self.split_members[name]:
                    y = torch.cat(parts, 1)
                    parts = []
            else:
                y = layer(y)
        outs.append(y)
        return torch.cat(outs[1:], 1)


class ResidualInceptionBlock(nn.Module):
    """Inception-ResNet block: the branches' concatenation is projected back to the input width by a linear 1x1
    conv (bias, no batch norm), scaled, added to the input, then (optionally) ReLU."""

    def __init__(self, in_ch: int, spec: Residual, conv: ConvFactory):
        super().__init__()
        self.branches = InceptionBlock(in_ch, spec.branches, conv)
        self.project = nn.Conv2d(self.branches.out_channels, in_ch, 1)
        self.scale = spec.scale
        self.relu = nn.ReLU(inplace=True) if spec.activate else nn.Identity()
        self.out_channels = in_ch

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(x + self.scale * self.project(self.branches(x)))


def build_layer(in_ch: int, spec: LayerSpec, conv: ConvFactory) -> tuple[nn.Module, int]:
    """The module of one table row and its output channels."""
    if isinstance(spec, ConvSpec):
        return conv(in_ch, spec), spec.out_ch
    if isinstance(spec, SeparableConvSpec):
        return SeparableConv2d(in_ch, spec), spec.out_ch
    if isinstance(spec, Residual):
        block = ResidualInceptionBlock(in_ch, spec, conv)
    elif isinstance(spec, tuple):
        block = InceptionBlock(in_ch, spec, conv)
    else:
        return spec(), in_ch
    return block, block.out_channels


class AuxHead(NamedTuple):
    """An auxiliary classifier named ``name`` on the output of layer ``tap``; ``build(in_ch, conv, num_classes)``
    returns it, with its final linear layer called ``fc``."""

    tap: str
    name: str
    build: Callable[[int, ConvFactory, int], nn.Module]


class InceptionNet(ZooModel):
    """The table's layers run in order, then global average pool -> dropout -> ``fc``; in training mode each
    auxiliary head reads the output of its tap layer. Subclasses pass their table and initialise the weights."""

    classifier_path = "fc"
    layer_names: list[str]
    aux_taps: dict[str, str]  # auxiliary head name -> the layer it reads
    tapped: list[str]

    def __init__(
        self,
        num_classes: int,
        in_chans: int,
        groups: Sequence[Group],
        conv: ConvFactory,
        aux_heads: Sequence[AuxHead] = (),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        channels: dict[str, int] = {}
        self._groups: list[tuple[str, list[str]]] = []
        self.layer_names = []
        ch = in_chans
        for group, layers in groups:
            for name, spec in layers:
                module, ch = build_layer(ch, spec, conv)
                self.add_module(name, module)
                channels[name] = ch
            self._groups.append((group, [name for name, _ in layers]))
            self.layer_names += [name for name, _ in layers]
        self.num_features = ch
        for head in aux_heads:
            self.add_module(head.name, head.build(channels[head.tap], conv, num_classes))
        self.aux_taps = {head.name: head.tap for head in aux_heads}
        self.tapped = list(self.aux_taps.values())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(ch, num_classes)

    def _run(self, x: Tensor, with_aux: bool) -> tuple[Tensor, list[Tensor]]:
        taps: dict[str, Tensor] = {}
        aux: list[Tensor] = []
        for name, module in self.named_children():
            if name in self.layer_names:
                x = module(x)
                if name in self.tapped:
                    taps[name] = x
            elif with_aux and name in self.aux_taps:
                aux.append(module(taps[self.aux_taps[name]]))
        return x, aux

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
        if len(aux) > 0:
            return ClassifierOutput(logits, tuple(aux))
        return logits

    def init_aux_classifier(self, layer: nn.Linear) -> None:
        self.init_classifier(layer)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Also replaces each auxiliary head's final layer; ``0`` removes the auxiliary heads for good."""
        super().reset_classifier(num_classes, global_pool)
        for name in self.aux_taps:
            if num_classes == 0:
                delattr(self, name)
            else:
                head = self._modules[name]
                head.fc = self.new_linear(head.fc.in_features, num_classes, self.init_aux_classifier)
        if num_classes == 0:
            self.aux_taps, self.tapped, self.aux_weights = {}, [], ()

    def group_layout(self) -> list[tuple[str, list[str]]]:
        return self._groups + [("head", ["fc", *self.aux_taps])]


def trunc_normal_2sigma(weight: Tensor, std: float) -> None:
    """Normal(0, std) cut at two standard deviations (TensorFlow's ``truncated_normal``)."""
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)

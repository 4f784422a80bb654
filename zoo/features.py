"""Multi-scale features of any zoo model, for dense tasks (FPN, U-Net): timm's ``forward_intermediates`` and
``features_only`` contracts.

A *stage* is a group of ``group_layout()`` (stem, stage1, ...) whose modules run in ``forward_features``; its output
is what enters the next stage (the input of that stage's first module to run), and the last stage's output is
``forward_features``' own. The stages, their channels and reductions are found once per model by running
``forward_features`` on meta tensors (no memory, no compute), so every family, and every model added later, gets
these features from its ``group_layout`` alone.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import torch
import torch.nn as nn
from torch import Tensor

from .arguments import stage_indices


@dataclass(frozen=True)
class Stage:
    name: str  # group name in group_layout()
    channels: int
    reduction: int  # input size / map size at the model's design input size, rounded to a power of two
    tap: str | None  # module whose input is this stage's output (the next stage's first); None: forward_features


class FeatureInfo(list):
    """One dict per stage, as timm's ``feature_info``: ``num_chs``, ``reduction``, ``module`` (group name),
    ``index``."""

    def channels(self) -> list[int]:
        return [f["num_chs"] for f in self]

    def reduction(self) -> list[int]:
        return [f["reduction"] for f in self]

    def module_name(self) -> list[str]:
        return [f["module"] for f in self]


def feature_info(model: nn.Module) -> FeatureInfo:
    return FeatureInfo(
        dict(num_chs=s.channels, reduction=s.reduction, module=s.name, index=i)
        for i, s in enumerate(feature_stages(model))
    )


class _ForwardFeatures(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_features(x)


def feature_stages(model: nn.Module) -> list[Stage]:
    """The model's stages in the order they run (computed once, then cached on the model)."""
    if "_feature_stages" not in model.__dict__:
        model.__dict__["_feature_stages"] = _probe_stages(model)
    return model.__dict__["_feature_stages"]


def _probe_stages(model: nn.Module) -> list[Stage]:
    entered: dict[str, tuple[str, torch.Size]] = {}  # group -> (first module to run, shape of its input)

    def on_enter(group: str, path: str):
        def hook(module: nn.Module, args: tuple) -> None:
            entered.setdefault(group, (path, args[0].shape))

        return hook

    handles = [
        model.get_submodule(path).register_forward_pre_hook(on_enter(group, path))
        for group, paths in model.group_layout()
        if group != "head"
        for path in paths
    ]
    size = model.info.input_size if model.info is not None else (model.in_chans, 224, 224)
    state = {f"model.{k}": v.to("meta") for k, v in chain(model.named_parameters(), model.named_buffers())}
    try:
        with torch.no_grad():
            out = torch.func.functional_call(_ForwardFeatures(model), state, (torch.empty(1, *size, device="meta"),))
    finally:
        for handle in handles:
            handle.remove()
    groups = list(entered)  # in the order the groups ran
    outputs = [(path, shape) for path, shape in (entered[g] for g in groups[1:])] + [(None, out.shape)]
    return [
        Stage(group, shape[1], _power_of_two(size[1] / shape[2]), tap) for group, (tap, shape) in zip(groups, outputs)
    ]


def _power_of_two(ratio: float) -> int:
    return 2 ** round(math.log2(ratio))


def resolve_indices(indices: int | Sequence[int] | None, n_stages: int, argument: str = "indices") -> list[int]:
    """timm's convention: None = every stage, an int k = the last k stages, a sequence = those (negative from the
    end); anything else is an error naming ``argument``."""
    return stage_indices(argument, indices, n_stages)


class _StopEarly(Exception):
    pass


def forward_intermediates(
    model: nn.Module,
    x: Tensor,
    indices: int | Sequence[int] | None = None,
    stop_early: bool = False,
    output_fmt: str = "NCHW",
    intermediates_only: bool = False,
) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
    """The output of the stages ``indices`` (see ``resolve_indices``) and, unless ``intermediates_only``, the
    ``forward_features`` output. ``stop_early`` (with ``intermediates_only``) stops after the last stage taken."""
    if output_fmt != "NCHW":
        raise ValueError(f"output_fmt={output_fmt!r}: zoo models produce NCHW maps only")
    stages = feature_stages(model)
    take = resolve_indices(indices, len(stages))
    stop_at = max(take) if stop_early and intermediates_only else None
    captured: dict[int, Tensor] = {}

    def capture(i: int):
        def hook(module: nn.Module, args: tuple) -> None:
            captured.setdefault(i, args[0])
            if i == stop_at:
                raise _StopEarly

        return hook

    handles = [
        model.get_submodule(stages[i].tap).register_forward_pre_hook(capture(i))
        for i in set(take)
        if stages[i].tap is not None
    ]
    final = None
    try:
        final = model.forward_features(x)
    except _StopEarly:
        pass
    finally:
        for handle in handles:
            handle.remove()
    if final is not None:
        captured[len(stages) - 1] = final
    intermediates = [captured[i] for i in take]
    return intermediates if intermediates_only else (final, intermediates)


class FeatureListNet(nn.Module):
    """What ``create_model(name, features_only=True, out_indices=...)`` returns: a module mapping images to the list
    of the ``out_indices`` stage outputs, with their ``feature_info``; the layers after the last stage are removed."""

    def __init__(self, model: nn.Module, out_indices: int | Sequence[int] | None = None):
        super().__init__()
        stages = feature_stages(model)
        self.out_indices = resolve_indices(out_indices, len(stages), "out_indices")
        all_info = feature_info(model)
        self.feature_info = FeatureInfo(all_info[i] for i in self.out_indices)
        model.reset_classifier(0)  # drops auxiliary heads too
        used = {s.name for s in stages}
        for group, paths in model.group_layout():
            if group not in used:
                for path in paths:
                    model.set_submodule(path, nn.Identity())
        self.model = model

    def forward(self, x: Tensor) -> list[Tensor]:
        self.model.check_eager_input(x)
        return forward_intermediates(self.model, x, self.out_indices, stop_early=True, intermediates_only=True)

"""Fine-tuning on the zoo's named parameter groups: freezing, batch-norm policy, per-group learning rates and
gradual unfreezing. Works for every zoo model because it only uses ``ZooModel.parameter_groups()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn
from lightning.pytorch.callbacks import BaseFinetuning

from zoo import ZooModel

from .errors import ConfigError

BN_POLICIES = ("train", "eval", "frozen")
STRATEGIES = ("none", "freeze_unfreeze", "milestones")
BACKBONE = "backbone"  # alias in ``freeze``: every group except the head


@dataclass
class FinetuneSpec:
    """The ``finetune`` config group (see ``configs/finetune/``)."""

    init_from: str | None = None
    freeze: list[str] = field(default_factory=list)
    freeze_until: str | None = None  # freeze every group up to and including this one
    # BN layers of frozen groups: train (stats update, affine trains) | eval (stats fixed, affine trains) |
    # frozen (stats and affine fixed)
    bn_policy: str = "eval"
    head_lr_mult: float = 1.0
    layer_decay: float = 1.0  # group k places before the head trains at base_lr * layer_decay**k
    strategy: str = "none"  # none | freeze_unfreeze | milestones
    unfreeze_at_epoch: int = 1  # freeze_unfreeze: the epoch the whole backbone thaws
    backbone_lr_mult: float = 1.0  # extra factor on every non-head group's lr
    unfreeze_milestones: list[int] = field(default_factory=list)  # milestones: epochs thawing groups head-down

    def __post_init__(self):
        if self.bn_policy not in BN_POLICIES:
            raise ConfigError(f"finetune.bn_policy={self.bn_policy!r}; choose one of {', '.join(BN_POLICIES)}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"finetune.strategy={self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        self.freeze = list(self.freeze or [])
        self.unfreeze_milestones = sorted(self.unfreeze_milestones or [])


def check_group_names(model: ZooModel, names: list[str], option: str) -> None:
    valid = model.group_names()
    if option == "freeze":
        valid = valid + [BACKBONE]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ConfigError(f"finetune.{option}: no group {unknown} in {type(model).__name__}; valid: {', '.join(valid)}")


def statically_frozen_groups(model: ZooModel, spec: FinetuneSpec) -> list[str]:
    """Groups frozen for the whole run: ``freeze`` (``backbone`` = all but the head) and all up to ``freeze_until``."""
    names = model.group_names()
    frozen = [g for name in spec.freeze for g in (names[:-1] if name == BACKBONE else [name])]
    check_group_names(model, frozen, "freeze")
    if spec.freeze_until is not None:
        check_group_names(model, [spec.freeze_until], "freeze_until")
        frozen += names[: names.index(spec.freeze_until) + 1]
    return [n for n in names if n in frozen]


def initially_frozen_groups(model: ZooModel, spec: FinetuneSpec) -> list[str]:
    """Groups frozen at the start: static ones, or the whole backbone under a gradual-unfreezing strategy."""
    if spec.strategy == "none":
        return statically_frozen_groups(model, spec)
    return [n for n in model.group_names() if n != "head"]


def group_lr_multipliers(model: ZooModel, spec: FinetuneSpec) -> dict[str, float]:
    """lr multiplier per group: the head gets ``head_lr_mult``; k groups before it get ``backbone_lr_mult * layer_decay**k``."""
    names = model.group_names()
    return {
        name: spec.head_lr_mult if name == "head" else spec.backbone_lr_mult * spec.layer_decay ** (len(names) - 1 - i)
        for i, name in enumerate(names)
    }


def build_param_groups(model: ZooModel, base_lr: float, weight_decay: float, spec: FinetuneSpec) -> list[dict]:
    """Optimizer param groups with explicit ``lr`` (so any scheduler scales each group) and ``name`` (for logging).

    Call after ``set_frozen``: frozen parameters are left out. Under gradual unfreezing every parameter is
    included from the start with its group's lr: frozen ones get no gradient (so the optimizer skips them)
    until thawed, and the scheduler already scales them.
    """
    mults = group_lr_multipliers(model, spec)
    keep_frozen = spec.strategy != "none"
    groups = []
    for name, params in model.parameter_groups().items():
        params = [(n, p) for n, p in params if p.requires_grad or keep_frozen]
        decay = [p for _, p in params if p.ndim > 1]
        no_decay = [p for _, p in params if p.ndim <= 1]  # biases and norm scales/shifts: no weight decay
        lr = base_lr * mults[name]
        groups += [{"name": name, "params": decay, "lr": lr, "weight_decay": weight_decay},
                   {"name": f"{name}/no_decay", "params": no_decay, "lr": lr, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def set_frozen(model: ZooModel, groups: list[str], spec: FinetuneSpec) -> None:
    """Freeze exactly ``groups`` (others trainable). BN scales/shifts stay trainable unless the policy is ``frozen``."""
    frozen = set(groups)
    for name, modules in model.group_modules().items():
        for module in modules:
            for sub in module.modules():
                keep_affine = spec.bn_policy != "frozen" and isinstance(sub, nn.modules.batchnorm._BatchNorm)
                for p in sub.parameters(recurse=False):
                    p.requires_grad_(name not in frozen or keep_affine)
    model.frozen_groups = list(groups)


def apply_bn_policy(model: ZooModel, spec: FinetuneSpec) -> None:
    """In training mode, BN layers of frozen groups run in eval mode (running stats used and kept) unless the
    policy is ``train``; BN layers of the other groups train."""
    if spec.bn_policy == "train" or not model.training:
        return
    frozen = set(getattr(model, "frozen_groups", ()))
    for name, modules in model.group_modules().items():
        for module in modules:
            for sub in module.modules():
                if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    sub.train(name not in frozen)


class GradualUnfreezing(BaseFinetuning):
    """Thaw frozen groups during training, for any zoo model (no ``backbone`` attribute needed).

    ``freeze_unfreeze``: the whole backbone thaws at ``unfreeze_at_epoch``. ``milestones``: at each milestone
    epoch the next group below the head thaws. The param groups are in the optimizer from the start, so thawing
    only flips ``requires_grad`` and resuming from a checkpoint lands in the same state.
    """

    def __init__(self, spec: FinetuneSpec):
        super().__init__()
        self.spec = spec

    def frozen_at(self, model: ZooModel, epoch: int) -> list[str]:
        backbone = [n for n in model.group_names() if n != "head"]
        if self.spec.strategy == "freeze_unfreeze":
            return [] if epoch >= self.spec.unfreeze_at_epoch else backbone
        thawed = sum(epoch >= m for m in self.spec.unfreeze_milestones)
        return backbone[: len(backbone) - thawed]

    def freeze_before_training(self, pl_module) -> None:
        set_frozen(pl_module.net, self.frozen_at(pl_module.net, 0), self.spec)

    def finetune_function(self, pl_module, current_epoch: int, optimizer) -> None:
        frozen = self.frozen_at(pl_module.net, current_epoch)
        if frozen != pl_module.net.frozen_groups:
            set_frozen(pl_module.net, frozen, self.spec)  # the module's on_train_epoch_start then sets BN modes

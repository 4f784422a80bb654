"""Fine-tuning on the zoo's named parameter groups: freezing, batch-norm policy, per-group learning rates and
gradual unfreezing. Works for every zoo model because it only uses ``ZooModel.parameter_groups()``.

Which groups are frozen at an epoch is one function of the spec and the epoch (``frozen_groups_at``); the
LightningModule owns the current set. Groups frozen for the whole run get ``requires_grad=False`` and stay out of
the optimizer. Groups that thaw later keep ``requires_grad=True`` and have their gradients dropped before each
optimizer step while frozen: DistributedDataParallel registers only parameters that require gradients when it wraps
the model, so flipping ``requires_grad`` on later (Lightning's ``BaseFinetuning``) would leave thawed parameters out
of the gradient all-reduce and let the replicas drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from zoo import ZooModel

from .errors import ConfigError

BN_POLICIES = ("train", "eval", "frozen")
STRATEGIES = ("none", "freeze_unfreeze", "milestones")
BACKBONE = "backbone"  # alias in ``freeze``: every group except the head


@dataclass
class FinetuneSpec:
    """The ``finetune`` config group (see ``configs/finetune/``); registered as its schema, so a misspelt key or a
    wrong type fails when the config is composed. Types are spelled with ``typing`` for OmegaConf."""

    init_from: str | None = None  # required (``???``) by every recipe but ``finetune=none``
    allow_partial: bool = False  # load weights that cover only part of the model (the rest stays initialised)
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


def scheduled_frozen_groups(model: ZooModel, spec: FinetuneSpec, epoch: int) -> list[str]:
    """Groups a gradual-unfreezing strategy still holds frozen at ``epoch`` (from the input up)."""
    backbone = [n for n in model.group_names() if n != "head"]
    if spec.strategy == "freeze_unfreeze":
        return [] if epoch >= spec.unfreeze_at_epoch else backbone
    if spec.strategy == "milestones":
        thawed = sum(epoch >= m for m in spec.unfreeze_milestones)
        return backbone[: len(backbone) - thawed]
    return []


def frozen_groups_at(model: ZooModel, spec: FinetuneSpec, epoch: int) -> list[str]:
    """Every group frozen during ``epoch``: the static ones and those the strategy has not thawed yet."""
    frozen = set(statically_frozen_groups(model, spec)) | set(scheduled_frozen_groups(model, spec, epoch))
    return [n for n in model.group_names() if n in frozen]


def group_lr_multipliers(model: ZooModel, spec: FinetuneSpec) -> dict[str, float]:
    """lr multiplier per group: the head gets ``head_lr_mult``; k groups before it get
    ``backbone_lr_mult * layer_decay**k``."""
    names = model.group_names()
    return {
        name: spec.head_lr_mult if name == "head" else spec.backbone_lr_mult * spec.layer_decay ** (len(names) - 1 - i)
        for i, name in enumerate(names)
    }


def build_param_groups(model: ZooModel, base_lr: float, weight_decay: float, spec: FinetuneSpec) -> list[dict]:
    """Optimizer param groups with explicit ``lr`` (so any scheduler scales each group) and ``name`` (for logging).

    Call after ``freeze_for_run``: parameters frozen for the whole run are left out. Groups that thaw later are in
    the optimizer from the start with their own lr (no gradient reaches the optimizer while they are frozen), so the
    scheduler already scales them and resuming lands in the same state.
    """
    mults = group_lr_multipliers(model, spec)
    groups = []
    for name, params in model.parameter_groups().items():
        params = [(n, p) for n, p in params if p.requires_grad]
        decay = [p for _, p in params if p.ndim > 1]
        no_decay = [p for _, p in params if p.ndim <= 1]  # biases and norm scales/shifts: no weight decay
        lr = base_lr * mults[name]
        groups += [
            {"name": name, "params": decay, "lr": lr, "weight_decay": weight_decay},
            {"name": f"{name}/no_decay", "params": no_decay, "lr": lr, "weight_decay": 0.0},
        ]
    return [g for g in groups if g["params"]]


def frozen_parameters(model: ZooModel, groups: list[str], spec: FinetuneSpec) -> list[nn.Parameter]:
    """The parameters that ``groups`` being frozen holds fixed: all of theirs, except batch-norm scales and shifts
    unless the policy is ``frozen``."""
    frozen, params = set(groups), []
    for name, modules in model.group_modules().items():
        if name not in frozen:
            continue
        for module in modules:
            for sub in module.modules():
                if spec.bn_policy == "frozen" or not isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    params += list(sub.parameters(recurse=False))
    return params


def freeze_for_run(model: ZooModel, spec: FinetuneSpec) -> None:
    """``requires_grad=False`` on what is frozen for the whole run (never thawed, so DDP may leave it out)."""
    for p in frozen_parameters(model, statically_frozen_groups(model, spec), spec):
        p.requires_grad_(False)


def drop_frozen_gradients(model: ZooModel, groups: list[str], spec: FinetuneSpec) -> None:
    """Before an optimizer step: frozen parameters get no gradient, so the optimizer leaves them (and their
    momentum and weight decay) untouched, exactly as if they did not require one."""
    for p in frozen_parameters(model, groups, spec):
        p.grad = None


def apply_bn_policy(model: ZooModel, groups: list[str], spec: FinetuneSpec) -> None:
    """In training mode, BN layers of frozen ``groups`` run in eval mode (running stats used and kept) unless the
    policy is ``train``; BN layers of the other groups train."""
    if spec.bn_policy == "train" or not model.training:
        return
    frozen = set(groups)
    for name, modules in model.group_modules().items():
        for module in modules:
            for sub in module.modules():
                if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    sub.train(name not in frozen)


def register_finetune_schema() -> None:
    """``finetune_schema/base``: FinetuneSpec's fields with ``init_from`` required, so a recipe that builds on it
    cannot silently start from random weights (``finetune=none`` sets it to null)."""
    schema = OmegaConf.structured(FinetuneSpec)
    schema.init_from = MISSING
    ConfigStore.instance().store(group="finetune_schema", name="base", node=schema)

"""Optimizers and schedules by name from an allow-list.

Their settings travel inside checkpoints (as the module's hyperparameters), and a file's contents must never become
code: a ``_target_`` is looked up here instead of being imported, so a checkpoint naming any other callable is
refused rather than run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch.optim import lr_scheduler

from . import schedules
from .errors import ConfigError

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    f"torch.optim.{cls.__name__}": cls
    for cls in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.NAdam)
}
SCHEDULERS: dict[str, Callable[..., lr_scheduler.LRScheduler]] = {
    "zootrain.schedules.warmup_cosine": schedules.warmup_cosine,
    "zootrain.schedules.one_cycle": schedules.one_cycle,
    "zootrain.schedules.step_fractions": schedules.step_fractions,
    **{
        f"torch.optim.lr_scheduler.{cls.__name__}": cls
        for cls in (lr_scheduler.StepLR, lr_scheduler.MultiStepLR, lr_scheduler.CosineAnnealingLR)
    },
}
FUSED_CAPABLE = ("torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW")


def allowed_target(settings: dict[str, Any], table: dict[str, Callable], option: str) -> str:
    """``settings._target_`` if ``table`` allows it; any other callable is refused, never imported."""
    target = settings.get("_target_")
    if target not in table:
        raise ConfigError(
            f"{option}._target_={target!r} is not an optimizer/schedule this project builds; "
            f"choose one of {', '.join(table)}"
        )
    return target


def required_arguments(factory: Callable, given: set[str]) -> list[str]:
    """The arguments ``factory`` needs that neither ``given`` nor the module (parameters, optimizer, the run's
    steps) passes."""
    passed = {"params", "optimizer", "total_steps", *given}
    parameters = inspect.signature(factory).parameters.values()
    return [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in passed
    ]


def _lookup(settings: dict[str, Any], table: dict[str, Callable], option: str) -> tuple[Callable, dict[str, Any]]:
    factory = table[allowed_target(settings, table, option)]
    return factory, {k: v for k, v in settings.items() if not k.startswith("_")}


def build_optimizer(settings: dict[str, Any], param_groups: list[dict], **extra: Any) -> torch.optim.Optimizer:
    factory, kwargs = _lookup(settings, OPTIMIZERS, "optimizer")
    return factory(param_groups, **kwargs, **extra)


def scheduler_factory(settings: dict[str, Any]) -> Callable[..., lr_scheduler.LRScheduler]:
    factory, kwargs = _lookup(settings, SCHEDULERS, "scheduler")
    return partial(factory, **kwargs)


def check_settings(optimizer: dict[str, Any], scheduler: dict[str, Any] | None) -> None:
    """Fail before training starts when the optimizer or schedule is not one of the allowed names, or misses an
    argument it needs (``torch.optim.lr_scheduler.CosineAnnealingLR`` without ``T_max``)."""
    for settings, table, option in ((optimizer, OPTIMIZERS, "optimizer"), (scheduler, SCHEDULERS, "scheduler")):
        if not settings:
            continue
        factory, kwargs = _lookup(settings, table, option)
        missing = required_arguments(factory, set(kwargs))
        if missing:
            raise ConfigError(
                f"{option}.{missing[0]} must be set for {settings['_target_']}: add {option}.{missing[0]}=..."
            )

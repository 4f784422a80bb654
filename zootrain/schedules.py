"""Learning-rate schedules as multiplicative factors (``LambdaLR``).

A factor scales every parameter group's own initial ``lr``, so per-group learning rates (fine-tuning, layer
decay) keep their ratios under any schedule. Factories that take ``total_steps`` are stepped every optimizer
step; others (e.g. ``torch.optim.lr_scheduler.StepLR``) every epoch.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_fraction: float = 0.0, min_lr_ratio: float = 0.0
) -> LambdaLR:
    """Linear warm-up from 0, then half a cosine down to ``min_lr_ratio`` × each group's lr."""
    warmup = int(total_steps * warmup_fraction)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def one_cycle(
    optimizer: Optimizer,
    total_steps: int,
    peak_fraction: float = 0.25,
    start_ratio: float = 0.04,
    end_ratio: float = 1e-4,
) -> LambdaLR:
    """Smith's one-cycle policy, peaking at each group's lr: linear up to the peak, then linear down."""
    peak = max(1, int(total_steps * peak_fraction))

    def factor(step: int) -> float:
        if step < peak:
            return start_ratio + (1 - start_ratio) * step / peak
        return max(end_ratio, 1 - (1 - end_ratio) * (step - peak) / max(1, total_steps - peak))

    return LambdaLR(optimizer, factor)


def step_fractions(
    optimizer: Optimizer, total_steps: int, fractions: tuple[float, ...] = (0.5, 0.75), gamma: float = 0.1
) -> LambdaLR:
    """Multiply each group's lr by ``gamma`` once the run has done each of ``fractions`` of its steps: the ResNet
    paper's CIFAR schedule (/10 at 32k and 48k of 64k iterations) for a run of any length."""
    milestones = sorted(int(total_steps * fraction) for fraction in fractions)

    def factor(step: int) -> float:
        return gamma ** sum(step >= milestone for milestone in milestones)

    return LambdaLR(optimizer, factor)


def build_scheduler(factory: Callable[..., LRScheduler], optimizer: Optimizer, total_steps: int) -> dict:
    """Lightning's ``lr_scheduler`` dict for a scheduler factory (a partial from the config)."""
    if "total_steps" in inspect.signature(factory).parameters:
        return {"scheduler": factory(optimizer, total_steps=total_steps), "interval": "step"}
    return {"scheduler": factory(optimizer), "interval": "epoch"}

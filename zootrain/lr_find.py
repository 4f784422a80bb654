"""``python train.py tune=lr_find``: Lightning's learning-rate range test on the configured run, without training.

The range starts ``BELOW`` times under the configured ``optimizer.lr`` (the recipe's choice for this model and
data) and grows up to ``ABOVE`` times over it, stopping early once the loss diverges (``early_stop_threshold``): a
fixed 1e-8..1 spent most of its steps where nothing is learnt, and on the default run never reached an lr at which
the loss falls. Lightning smooths the loss over about 50 steps and LeNet-5 on digits learns nothing in its first
hundred, so the default ``tune_steps`` is 300 (about 7 digits epochs; there the loss falls near lr 0.1 and diverges
above it). A curve whose smoothed loss never falls by ``MIN_DROP`` from its highest point so far gives no
suggestion, only a one-line warning (the steepest slope of a flat, noisy curve is noise); the plot is written either
way.

The optimizer's lr sits in its config node (``optimizer.lr``), not on the module, so the finder runs with
``update_attr=False`` and this module reports the suggestion as the override to use.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import lightning as L
from lightning.pytorch.tuner import Tuner

from zoo import visualize

log = logging.getLogger(__name__)
PLOT = "lr_find.png"
RESULT = "lr_find.json"
BELOW, ABOVE = 10.0, 100.0  # the lr grows from optimizer.lr / BELOW to optimizer.lr * ABOVE
MIN_DROP = 0.1  # a suggestion needs the smoothed loss to fall by this fraction of its earlier peak
DIVERGED = 4.0  # Lightning stops the test once the loss exceeds this many times its lowest value


def loss_fell(losses: list[float]) -> bool:
    """Whether the smoothed loss fell somewhere to at most ``1 - MIN_DROP`` of its highest value before that point.
    (Not of its first value: Lightning's bias correction makes the first smoothed values too low, then rise.)"""
    highest = -math.inf
    for loss in (loss for loss in losses if math.isfinite(loss)):
        highest = max(highest, loss)
        if loss <= (1 - MIN_DROP) * highest:
            return True
    return False


def find_lr(trainer: L.Trainer, module: L.LightningModule, datamodule, out_dir: Path, steps: int) -> dict:
    """Exponentially growing lr over at most ``steps`` training steps (``optimizer.lr`` / ``BELOW`` to * ``ABOVE``,
    ending early where the loss diverges); writes the loss-vs-lr plot and ``lr_find.json`` and logs the suggested
    ``optimizer.lr`` (steepest descent of the smoothed loss), or a warning where the loss never fell."""
    lr = module.hparams.optimizer["lr"]
    finder = Tuner(trainer).lr_find(
        module,
        datamodule=datamodule,
        min_lr=lr / BELOW,
        max_lr=lr * ABOVE,
        num_training=steps,
        early_stop_threshold=DIVERGED,
        update_attr=False,
    )
    if finder is None:  # another rank: rank 0 reports
        return {}
    suggestion = finder.suggestion() if loss_fell(finder.results["loss"]) else None
    figure = finder.plot(suggest=suggestion is not None)
    figure.axes[0].set_title(f"{module.hparams.model['name']}: lr range test ({len(finder.results['lr'])} steps)")
    visualize.save(figure, out_dir / PLOT)
    losses = [loss if math.isfinite(loss) else None for loss in finder.results["loss"]]
    result = {"suggested_lr": suggestion, "lr": finder.results["lr"], "loss": losses}
    (out_dir / RESULT).write_text(json.dumps(result, indent=2))
    if suggestion is None:
        log.warning(
            f"lr_find: no reliable suggestion: the loss never fell by {MIN_DROP:.0%} between lr {lr / BELOW:.3g} and "
            f"{finder.results['lr'][-1]:.3g}; look at {out_dir / PLOT}, or give more steps (tune_steps=300)"
        )
    else:
        log.info(
            f"lr_find: suggested optimizer.lr={suggestion:.3g} (loss vs lr: {out_dir / PLOT}); "
            f"train with the same overrides and optimizer.lr={suggestion:.3g} instead of tune=lr_find"
        )
    return result

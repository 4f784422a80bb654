"""``python train.py tune=lr_find``: Lightning's learning-rate range test on the configured run, without training.

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


def find_lr(trainer: L.Trainer, module: L.LightningModule, datamodule, out_dir: Path, steps: int) -> dict:
    """Exponentially growing lr over ``steps`` training steps (1e-8 to 1); writes the loss-vs-lr plot and
    ``lr_find.json`` and logs the suggested ``optimizer.lr`` (steepest descent of the smoothed loss)."""
    finder = Tuner(trainer).lr_find(module, datamodule=datamodule, num_training=steps, update_attr=False)
    if finder is None:  # another rank: rank 0 reports
        return {}
    suggestion = finder.suggestion()
    figure = finder.plot(suggest=suggestion is not None)
    figure.axes[0].set_title(f"{module.hparams.model['name']}: lr range test ({steps} steps)")
    visualize.save(figure, out_dir / PLOT)
    losses = [loss if math.isfinite(loss) else None for loss in finder.results["loss"]]
    result = {"suggested_lr": suggestion, "lr": finder.results["lr"], "loss": losses}
    (out_dir / RESULT).write_text(json.dumps(result, indent=2))
    if suggestion is None:
        log.info(f"lr_find: no clear descent in the loss; look at {out_dir / PLOT} (try more steps: tune_steps=300)")
    else:
        log.info(
            f"lr_find: suggested optimizer.lr={suggestion:.3g} (loss vs lr: {out_dir / PLOT}); "
            f"train with the same overrides and optimizer.lr={suggestion:.3g} instead of tune=lr_find"
        )
    return result

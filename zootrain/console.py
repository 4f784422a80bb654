"""A quiet console: Lightning's advertising and messages that say nothing about this run are dropped at their
source, so what remains (the resolved config, the model and input, progress with ETA, the final summary) is read."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

from hydra.experimental.callback import Callback
from lightning.pytorch.callbacks import TQDMProgressBar
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

log = logging.getLogger(__name__)
REFRESH_EVERY_S = 1.0  # the progress bar is redrawn at least this often, however slow the steps

NOISE = (
    "💡 Tip:",  # an advertisement for a cloud logger
    "TPU available:",
    "Loading `train_dataloader` to estimate number of stepping batches",
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(NOISE)


def quieten() -> None:
    for name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).addFilter(_DropNoise())
    # lightning's own use of a torch API that torch deprecated; nothing a user of this project can act on
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # ZooClassifier.configure_model sets the memory format and compiles; it shards nothing, as EMA would need
    warnings.filterwarnings("ignore", message=r"You're using the WeightAveraging callback with a model that overrides")
    # resuming a run in its own directory finds its earlier checkpoints there, as it should
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")


class PrintConfig(Callback):
    """Hydra callback: the job's resolved config, as YAML under its top-level keys, on the console and in the run's
    log file before the job starts (the run directory's ``config.yaml`` holds the same)."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])
        try:
            text = OmegaConf.to_yaml(settings, resolve=True)
        except OmegaConfBaseException:  # a value that cannot be resolved: the run itself reports it in one line
            text = OmegaConf.to_yaml(settings)
        log.info("config:\n  " + text.strip().replace("\n", "\n  "))


class TimelyProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, redrawn every ``refresh_rate`` batches as before and also whenever ``REFRESH_EVERY_S``
    has passed since the last redraw: ten batches of a large model on a CPU take minutes, and the bar would say nothing
    meanwhile. Lightning's ``_should_update`` is the one hook for this (TQDMProgressBar takes no time interval)."""

    def __init__(self, refresh_rate: int = 1, **kwargs: Any):
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.last_refresh = time.monotonic()

    def _should_update(self, current: int, total: int | float) -> bool:
        now = time.monotonic()
        if super()._should_update(current, total) or (self.is_enabled and now - self.last_refresh >= REFRESH_EVERY_S):
            self.last_refresh = now
            return True
        return False


def checkpoint_line(path: str, fast_dev_run: Any) -> str:
    """A checkpoint path for the final summary; a run that wrote none says so (and why, after a fast_dev_run)."""
    return path or ("none: fast_dev_run writes no checkpoints" if fast_dev_run else "none written")

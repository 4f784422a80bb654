"""A quiet console: Lightning's advertising and messages that say nothing about this run are dropped at their
source, so what remains (the model and input, progress with ETA, the final summary) is read."""

from __future__ import annotations

import logging
import warnings

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

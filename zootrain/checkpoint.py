"""Reading checkpoints written by ``train.py`` (safely: ``zoo.weights.load_file`` uses ``weights_only=True``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.weights import WeightsError, load_file


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by ``train.py``: it carries the config needed to rebuild model and data."""
    ckpt = load_file(path)
    hparams = ckpt.get("hyper_parameters")
    model = hparams.get("model") if isinstance(hparams, dict) else None
    if "state_dict" not in ckpt or not isinstance(model, dict) or "name" not in model:
        raise WeightsError(
            f"{path} is not a checkpoint written by train.py (no zoo model settings beside its weights); "
            "to start from plain weights use finetune.init_from=... instead"
        )
    return ckpt

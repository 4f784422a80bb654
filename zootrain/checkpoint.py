"""Reading checkpoints written by ``train.py`` (safely: ``zoo.weights.load_file`` uses ``weights_only=True``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo import list_models
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
    if model["name"] not in list_models():
        raise WeightsError(
            f"{path} was trained as {model['name']!r}, which this zoo does not have (zoo.list_models() lists them): "
            "a checkpoint of another version, or an edited one"
        )
    if not isinstance(ckpt.get("datamodule_hyper_parameters"), dict):
        raise WeightsError(
            f"{path} lacks the dataset settings train.py stores beside the model's (datamodule_hyper_parameters), "
            "so the data it was trained on cannot be rebuilt; to start from its weights use finetune.init_from=..."
        )
    return ckpt

"""Loading the catalogue's weights (``zoo.catalog``) into a model: ``create_model(name, pretrained=True | "tag")``.

Shipped files (the zoo's own, ``zoo/_weights/*.safetensors``) load offline. Files of outside publishers
(torchvision, timm) are downloaded once into torch.hub's cache (``$TORCH_HOME/hub/checkpoints``, where torchvision
keeps them too); offline, the error names the file to place there. Every file's SHA-256 is checked against its
record on every load, where the publisher gives one; safetensors files are read as tensors only, ``.pth`` files with
``weights_only=True``. Nothing here runs at import time, and the tests never download.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
from pathlib import Path

import torch
from safetensors.torch import load_file as load_safetensors
from torch import Tensor

from .base import ZooModel
from .catalog import WEIGHTS_DIR, WeightsRecord
from .errors import WeightsError
from .weights import load_file, load_pretrained

log = logging.getLogger(__name__)


def cache_path(record: WeightsRecord) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / record.file


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(record: WeightsRecord, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(record.url, str(path), hash_prefix=None, progress=False)
    except (urllib.error.URLError, OSError) as err:
        raise WeightsError(
            f"cannot download {record.name} from {record.url} ({err}); without network, place that file at {path}"
        ) from None


def weights_file(record: WeightsRecord) -> Path:
    """The record's file on disk (shipped, or cached after a download), its SHA-256 checked."""
    path = WEIGHTS_DIR / record.file if record.shipped else cache_path(record)
    if not record.shipped and not path.is_file():
        _download(record, path)
    if record.sha256 is None:
        log.warning("%s: its publisher gives no SHA-256; %s is not checked", record.name, path)
        return path
    digest = sha256(path)
    if not digest.startswith(record.sha256):
        fix = "reinstall the package" if record.shipped else f"delete it (it is downloaded again from {record.url})"
        raise WeightsError(
            f"{path} has SHA-256 {digest[:12]}..., expected {record.sha256[:12]}... for {record.name}: "
            f"a corrupt or other file; {fix}"
        )
    return path


def rename_modules(state: dict[str, Tensor], renames: dict[str, str]) -> dict[str, Tensor]:
    """Keys under a publisher's module path moved to the zoo's (the longest matching path wins)."""
    by_length = sorted(renames, key=len, reverse=True)
    renamed = {}
    for key, value in state.items():
        source = next((p for p in by_length if key.startswith(p + ".")), None)
        renamed[renames[source] + key[len(source) :] if source else key] = value
    return renamed


def read_weights(record: WeightsRecord) -> dict[str, Tensor]:
    """The record's tensors under the zoo's names."""
    path = weights_file(record)
    state = load_safetensors(str(path)) if path.suffix == ".safetensors" else load_file(path)
    if record.key_map:
        state = rename_modules(state, json.loads((WEIGHTS_DIR / record.key_map).read_text()))
    return state


def load_published(model: ZooModel, record: WeightsRecord) -> None:
    """Load the record's weights into ``model`` (a fresh head if its class count differs) and attach the record
    as ``model.weights`` (its preprocessing, class names and accuracy)."""
    load_pretrained(model, read_weights(record), source_name=f"the published weights {record.name} ({record.file})")
    model.weights = record

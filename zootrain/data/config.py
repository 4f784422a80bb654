"""The dataset settings: defaults and types live here once, for the Python API and for Hydra.

``configs/dataset/<name>.yaml`` starts from a structured config registered below (group ``dataset_schema``) and
holds only what differs for its dataset; a value of the wrong type fails when Hydra composes the config, naming the
key. ``dataset_config`` checks the same for every caller, plus unknown keys (``+dataset.foo=1`` composes), ranges
and required values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import DataConfigError

LOADERS = ("auto", "batched", "per_image")
RENAMED = {"gpu_resident": "dataset.loader=batched (auto: batched for every in-memory dataset, on CPU and GPU)"}


@dataclass
class DatasetConfig:
    name: str = MISSING  # a key of zootrain.data.DATASETS: digits, mnist, cifar10, imagefolder ...
    root: str = "data"  # where the dataset's files are (Hydra: ${paths.data_dir})
    batch_size: int = 128
    num_workers: int | None = None  # None: 0 for in-memory datasets, min(8, usable CPUs) for image files
    val_fraction: float = 0.1  # stratified share of the training images held out for validation
    split_seed: int = 0
    image_size: int | None = None  # None: the model's input size
    mean: list[float] | None = None  # None: the dataset's statistics (train.py sets the model's)
    std: list[float] | None = None
    augment: bool = True  # the dataset's augmentation policy (zootrain.data.augment.POLICIES)
    classes: list[int] | None = None  # a subset of class indices, relabelled 0..k-1
    samples_per_class: int | None = None  # keep only this many training images per class
    loader: str = "auto"  # batched | per_image; auto: batched for in-memory datasets
    cache_dir: str | None = None  # decoded CIFAR-10 JPEGs; None: <root>/.cache or ~/.cache/cnn-zoo
    zip_path: str | None = None  # CIFAR-10 JPEG zip or folder (dataset=cifar10: $CNN_ZOO_CIFAR10_ZIP)
    pin_memory: bool | None = None  # None: when training on a GPU
    persistent_workers: bool = True
    download: bool = False  # let torchvision download MNIST / Fashion-MNIST / CIFAR (needs network)


@dataclass(frozen=True)
class LoadRequest:
    """Where a loader looks: the dataset root, whether it may download, the CIFAR-10 JPEG source and cache."""

    root: Path
    download: bool = False
    zip_path: Path | None = None
    cache_dir: Path | None = None

    @classmethod
    def of(cls, cfg: DatasetConfig) -> LoadRequest:
        def path(value: str | None) -> Path | None:
            return Path(value).expanduser() if value else None

        return cls(Path(cfg.root).expanduser(), cfg.download, path(cfg.zip_path), path(cfg.cache_dir))


# What configs/dataset/*.yaml start from. A `root: ???` in a YAML would not survive the merge onto a set root
# (OmegaConf keeps the set value), so datasets without a default location start from `root_required`.
_STORE = ConfigStore.instance()
_STORE.store(group="dataset_schema", name="base", node=DatasetConfig(root="${paths.data_dir}"))
_STORE.store(group="dataset_schema", name="root_required", node=DatasetConfig(root=MISSING))
FIELDS = tuple(f.name for f in fields(DatasetConfig))


def _unknown(keys: list[str]) -> DataConfigError:
    hints = [f"dataset.{k} is now {RENAMED[k]}" for k in keys if k in RENAMED]
    return DataConfigError(
        f"unknown dataset setting{'s' if len(keys) > 1 else ''} {', '.join(keys)}; "
        + ("; ".join(hints) if hints else f"the settings are {', '.join(FIELDS)}")
    )


def _check_ranges(cfg: DatasetConfig) -> None:
    at_least = {"batch_size": 1, "num_workers": 0, "image_size": 1, "samples_per_class": 1}
    for key, low in at_least.items():
        value = getattr(cfg, key)
        if value is not None and value < low:
            raise DataConfigError(f"dataset.{key}={value}; it must be at least {low}")
    if not 0 <= cfg.val_fraction < 1:
        raise DataConfigError(f"dataset.val_fraction={cfg.val_fraction}; it must be in [0, 1)")
    if cfg.loader not in LOADERS:
        raise DataConfigError(f"dataset.loader={cfg.loader!r}; choose one of {', '.join(LOADERS)}")


def dataset_config(settings: dict[str, Any]) -> DatasetConfig:
    """Settings checked against the schema (names, types, ranges, required values) -> a ``DatasetConfig``."""
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise _unknown(unknown)
    required = [key for key, value in settings.items() if value == MISSING]  # merging "???" would keep the default
    if required:
        raise DataConfigError(
            f"dataset.{required[0]} is required for dataset={settings.get('name')}: set dataset.{required[0]}=..."
        )
    try:
        cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DatasetConfig), settings))
    except OmegaConfBaseException as err:
        raise DataConfigError(f"dataset.{err.full_key}: {err.msg.splitlines()[0]}") from None
    _check_ranges(cfg)
    return cfg

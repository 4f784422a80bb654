"""The dataset settings: defaults and types live here once, for the Python API and for Hydra.

``configs/dataset/<name>.yaml`` starts from a structured config registered below (group ``dataset_schema``) and
holds only what differs for its dataset; a value of the wrong type fails when Hydra composes the config, naming the
key. ``dataset_config`` checks the same for every caller, plus unknown keys (``+dataset.foo=1`` composes), ranges
and required values.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .augment import POLICIES
from .errors import DataConfigError

RENAMED = {"gpu_resident": "always on: in-memory datasets always take the batched path (once dataset.loader=batched)"}
# settings of earlier versions that checkpoints still store (evaluate.py rebuilds the data from them): ignored
RETIRED = {"loader": "in-memory datasets always take the batched path now, image files DataLoader workers"}
BOOL_POLICIES = {"True": "crop_flip", "False": "none", "true": "crop_flip", "false": "none"}  # augment=true/false


def setting(
    default: Any,
    *,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A field with its allowed values in its metadata (read by ``check_ranges`` and by other schemas)."""
    bounds = {"at_least": at_least, "below": below, "at_most": at_most, "choices": choices}
    return field(default=default, metadata={k: v for k, v in bounds.items() if v is not None})


@dataclass
class DatasetConfig:
    """What ``dataset.*`` accepts: each setting's type, default and allowed values (``fields(...)[i].metadata``)."""

    name: str = MISSING  # a key of zootrain.data.DATASETS: digits, mnist, cifar10, imagefolder ...
    root: str = "data"  # where the dataset's files are (Hydra: ${paths.data_dir})
    batch_size: int = setting(128, at_least=1)
    num_workers: int | None = setting(None, at_least=0)  # None: 0 for in-memory datasets, min(8, CPUs) for files
    val_fraction: float = setting(0.1, at_least=0, below=1)  # stratified share of training images for validation
    split_seed: int = 0
    image_size: int | None = setting(None, at_least=1)  # None: the model's input size
    mean: list[float] | None = None  # None: the dataset's statistics (train.py sets the model's)
    std: list[float] | None = None
    # training augmentation (zootrain.data.augment): a policy, then RandomErasing, then MixUp / CutMix
    augment: str = setting("crop_flip", choices=POLICIES)  # none | crop_flip | randaugment | trivialaugment ...
    erasing: float = setting(0.0, at_least=0, at_most=1)  # RandomErasing's probability per image
    mixup_alpha: float = setting(0.0, at_least=0)  # MixUp's Beta(alpha, alpha); 0: off
    cutmix_alpha: float = setting(0.0, at_least=0)  # CutMix's; with mixup_alpha, each batch one of the two
    classes: list[int] | None = None  # a subset of class indices, relabelled 0..k-1
    samples_per_class: int | None = setting(None, at_least=1)  # keep only this many training images per class
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


BOUNDS = {"at_least": (operator.ge, "at least"), "at_most": (operator.le, "at most"), "below": (operator.lt, "below")}


def check_ranges(cfg: DatasetConfig) -> None:
    """Every setting within the bounds its field declares (``setting``)."""
    for f in fields(cfg):
        value, declared = getattr(cfg, f.name), f.metadata
        if value is None:
            continue
        if "choices" in declared and value not in declared["choices"]:
            raise DataConfigError(f"dataset.{f.name}={value!r}; choose one of {', '.join(declared['choices'])}")
        limits = {key: rule for key, rule in BOUNDS.items() if key in declared}
        if not all(holds(value, declared[key]) for key, (holds, _) in limits.items()):
            allowed = " and ".join(f"{word} {declared[key]}" for key, (_, word) in limits.items())
            raise DataConfigError(f"dataset.{f.name}={value}; it must be {allowed}")


def dataset_config(settings: dict[str, Any]) -> DatasetConfig:
    """Settings checked against the schema (names, types, ranges, required values) -> a ``DatasetConfig``."""
    for key in RETIRED.keys() & settings.keys():
        rank_zero_warn(f"dataset.{key} is gone ({RETIRED[key]}): ignoring dataset.{key}={settings[key]}")
    settings = {key: value for key, value in settings.items() if key not in RETIRED}
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
    cfg.augment = BOOL_POLICIES.get(cfg.augment, cfg.augment)
    check_ranges(cfg)
    return cfg

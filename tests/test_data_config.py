"""Dataset settings: defaults once (``DatasetConfig``), each configs/dataset/*.yaml only what differs, and every bad
setting one clear error naming the key."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from conftest import CONFIG_DIR, compose_config
from hydra.errors import ConfigCompositionException
from omegaconf import MISSING, OmegaConf
from test_data import write_image_folder
from torch.utils.data import DataLoader

from zootrain.data import DATASETS, ZIP_ENV, BatchedLoader, DataConfigError, DatasetConfig, ImageClassificationData

DATASET_YAMLS = sorted((Path(CONFIG_DIR) / "dataset").glob("*.yaml"))


def build(tmp_path, *overrides: str) -> ImageClassificationData:
    cfg = compose_config("train", [f"paths.data_dir={tmp_path}", *overrides], tmp_path / "run")
    return ImageClassificationData(**OmegaConf.to_container(cfg.dataset, resolve=True))


@pytest.mark.parametrize("path", DATASET_YAMLS, ids=lambda p: p.stem)
def test_each_dataset_yaml_holds_only_what_differs_from_the_defaults(path):
    settings = yaml.safe_load(path.read_text())
    defaults = {f.name: f.default for f in fields(DatasetConfig)}
    assert settings.pop("name") == path.stem and path.stem in DATASETS
    assert settings.pop("defaults")[-1] == "_self_"  # a schema first, then this file
    assert all(settings[key] != defaults[key] for key in settings), settings


@pytest.mark.parametrize(
    "override, key",
    [
        ("+dataset.foo=1", "foo"),
        ("dataset.batch_size=-4", "dataset.batch_size"),
        ("dataset.batch_size=abc", "dataset.batch_size"),
        ("dataset.batch_size=2.5", "dataset.batch_size"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction"),
        ("dataset.split_seed=abc", "dataset.split_seed"),
        ("dataset.num_workers=-1", "dataset.num_workers"),
        ("dataset.loader=gpu", "dataset.loader"),
        ("+dataset.gpu_resident=true", "dataset.loader=batched"),  # the old name says what replaced it
    ],
)
def test_a_bad_dataset_setting_is_one_error_naming_the_key(tmp_path, override, key):
    with pytest.raises((DataConfigError, ConfigCompositionException)) as info:
        build(tmp_path, override)
    assert key in str(info.value)


def test_imagefolder_without_root_says_root_is_required(tmp_path):
    with pytest.raises(DataConfigError, match=r"dataset.root is required for dataset=imagefolder"):
        build(tmp_path, "dataset=imagefolder")
    assert DatasetConfig.root != MISSING  # the Python API keeps a default; only the YAML requires it


def test_cifar10_zip_path_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(ZIP_ENV, str(tmp_path / "cifar.zip"))
    cfg = compose_config("train", ["dataset=cifar10"], tmp_path / "run")
    assert cfg.dataset.zip_path == str(tmp_path / "cifar.zip")
    monkeypatch.delenv(ZIP_ENV)
    assert (
        compose_config("train", ["dataset=cifar10", "dataset.zip_path=/z.zip"], tmp_path / "run").dataset.zip_path
        == "/z.zip"
    )
    assert compose_config("train", ["dataset=cifar10"], tmp_path / "run").dataset.zip_path is None


def test_in_memory_datasets_take_the_batched_loader_and_folders_workers(tmp_path):
    assert isinstance(build(tmp_path).train_dataloader(), BatchedLoader)  # digits
    with pytest.raises(ConfigCompositionException, match="dataset.loader"):  # no per-image path for in-memory data
        build(tmp_path, "dataset.loader=per_image")
    write_image_folder(tmp_path / "imgs")
    folder = build(
        tmp_path, "dataset=imagefolder", f"dataset.root={tmp_path / 'imgs'}", "dataset.val_fraction=0.25"
    ).train_dataloader()
    assert isinstance(folder, DataLoader) and folder.num_workers == min(8, os.cpu_count())
    assert folder.pin_memory is False  # pinned only when training on a GPU

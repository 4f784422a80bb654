"""Shared fixtures: compose the real Hydra configs (no command line) with the run directory in tmp_path."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import zootrain  # noqa: F401  (registers the config schemas and registry-driven nodes before any compose)

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
# The CIFAR-10 JPEG zip beside the repository, passed the way users pass it (dataset=cifar10 reads this variable).
SHARED_CIFAR10_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-train-jpeg.zip"
if SHARED_CIFAR10_ZIP.is_file():
    os.environ.setdefault("CNN_ZOO_CIFAR10_ZIP", str(SHARED_CIFAR10_ZIP))
if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread per worker: two workers on two cores, not four threads
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def compose_config(config_name: str, overrides: list[str], output_dir: Path):
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        return compose(config_name=config_name, overrides=[f"paths.output_dir={output_dir}", *overrides])


@pytest.fixture
def make_cfg(tmp_path):
    """``make_cfg("model=resnet18", ...)`` → a composed train config writing under tmp_path (CPU, quiet)."""

    def factory(*overrides: str, config_name: str = "train", run: str = "run"):
        base = [
            "trainer.accelerator=cpu",
            "trainer.enable_model_summary=false",
            "callbacks.progress_bar.refresh_rate=0",
            f"paths.data_dir={tmp_path / 'data'}",
        ]
        if config_name == "evaluate":
            base = ["trainer.accelerator=cpu", f"paths.data_dir={tmp_path / 'data'}"]
        return compose_config(config_name, [*base, *overrides], tmp_path / run)

    return factory


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """torch.hub's cache in tmp_path; every download attempt recorded and refused, as on a machine offline."""
    attempts = []

    def refuse(url, dst, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return tmp_path / "checkpoints", attempts

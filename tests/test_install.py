"""Installable as a package: the built wheel holds the configs, and its console script trains in a fresh
environment, away from this checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_the_wheel_installs_and_zoo_train_runs(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        cwd=tmp_path,
    )
    wheel = next((tmp_path / "dist").glob("cnn_zoo-*.whl"))
    # a fresh environment that borrows the already installed dependencies (torch etc.), not this checkout
    venv.create(tmp_path / "env", system_site_packages=True, with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, cwd=tmp_path)
    where = subprocess.run(
        [python, "-c", "import zootrain; print(zootrain.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(tmp_path / "env") in where  # the wheel's copy, not the checkout's
    run = tmp_path / "run"
    proc = subprocess.run(
        [
            tmp_path / "env" / "bin" / "zoo-train",
            f"hydra.run.dir={run}",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "callbacks.progress_bar.refresh_rate=0",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((run / "metrics.json").read_text())["model"] == "lenet5"

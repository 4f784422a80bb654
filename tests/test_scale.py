"""Scale-out on the existing engines: Lightning DDP (2 CPU processes over gloo) and Hydra multirun sweeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zootrain.run import evaluate, train

pytestmark = pytest.mark.integration  # sweeps and DDP in subprocesses

REPO = Path(__file__).resolve().parent.parent
TINY = ["trainer.max_epochs=6", "dataset.batch_size=32"]


def test_two_process_ddp_trains_checkpoints_and_evaluates_like_one_process(make_cfg):
    result = train(make_cfg("trainer=ddp_cpu", *TINY))
    ckpt = result["last_model_path"]
    assert Path(ckpt).is_file() and result["val/acc"] > 0.3  # learnt beyond chance (0.1)
    assert result["epochs"] == 6  # counted although the training ran in spawned processes
    single = evaluate(make_cfg(f"ckpt_path={ckpt}", "split=test", config_name="evaluate", run="eval1"))
    distributed = evaluate(
        make_cfg(f"ckpt_path={ckpt}", "split=test", "trainer=ddp_cpu", config_name="evaluate", run="eval2")
    )
    # each test image counted exactly once across the two processes
    assert distributed["num_samples"] == single["num_samples"]
    assert distributed["top1"] == pytest.approx(single["top1"], abs=1e-6)
    assert distributed["confusion_matrix"] == single["confusion_matrix"]


def test_asking_for_more_devices_than_exist_is_one_clear_error(tmp_path):
    proc = _train_cli(tmp_path, "trainer=gpu", "trainer.devices=8")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and "GPU" in proc.stderr


def test_missing_launcher_plugin_says_what_to_install(tmp_path):
    hide_plugin = (
        "import runpy, sys; sys.modules['hydra_plugins.hydra_submitit_launcher'] = None; "
        f"sys.argv = ['train.py', '-m', 'launcher=submitit_slurm']; "
        f"runpy.run_path({str(REPO / 'train.py')!r}, run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", hide_plugin], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "pip install hydra-submitit-launcher" in proc.stderr


def _train_command(tmp_path: Path, *args: str) -> list[str]:
    flags = [a for a in args if a.startswith("-")]  # Hydra's flags (-m) must come before the overrides
    overrides = [a for a in args if not a.startswith("-")]
    return [
        sys.executable,
        str(REPO / "train.py"),
        *flags,
        f"paths.root_dir={tmp_path}",
        "callbacks.progress_bar.refresh_rate=0",
        *overrides,
    ]


def _train_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_train_command(tmp_path, *args), cwd=tmp_path, capture_output=True, text=True)


def _sweep_jobs(tmp_path: Path) -> list[Path]:
    return sorted(p.parent for p in (tmp_path / "logs/train/multiruns/test_sweep").glob("*/config.yaml"))


def test_parallel_sweep_with_two_jobs_completes(tmp_path):
    proc = _train_cli(tmp_path, "-m", "launcher=joblib_cpu", "sweep_name=test_sweep", "seed=1,2", *TINY)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = _sweep_jobs(tmp_path)
    assert len(jobs) == 2 and all((j / "metrics.json").is_file() for j in jobs)


def test_rerunning_a_killed_sweep_skips_finished_jobs_and_resumes_the_rest(tmp_path):
    # the second job kills its own process in epoch 3 (fault_injection.KillAt): no timers, whatever the machine's load
    args = [
        "-m",
        "sweep_name=test_sweep",
        "seed=1,2",
        "trainer.max_epochs=6",
        "dataset.batch_size=16",
        "+callbacks.kill._target_=fault_injection.KillAt",
        "+callbacks.kill.epoch=3",
        "+callbacks.kill.batch=0",
        "+callbacks.kill.fit_number=2",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    killed = subprocess.run(_train_command(tmp_path, *args), cwd=tmp_path, capture_output=True, text=True, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    first, second = _sweep_jobs(tmp_path)
    assert (first / "metrics.json").is_file() and not (second / "metrics.json").is_file()
    first_result = (first / "metrics.json").read_text()
    first_mtime = (first / "metrics.json").stat().st_mtime_ns

    proc = subprocess.run(_train_command(tmp_path, *args), cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (first / "metrics.json").stat().st_mtime_ns == first_mtime
    assert (first / "metrics.json").read_text() == first_result
    assert "resuming the unfinished run" in (second / "train.log").read_text()
    assert json.loads((second / "metrics.json").read_text())["epochs"] == 6

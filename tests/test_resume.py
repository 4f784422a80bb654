"""Stopping and restarting runs: exact resume after kill -9 and SIGTERM, a non-zero exit when stopped, run data
kept, checkpoints written atomically, run directories never shared or mixed. The rows F1-F7 of
docs/reliability.md."""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fault_injection import RunWhileTraining, snapshot
from omegaconf import OmegaConf

from zootrain.cli import run_reporting_user_errors
from zootrain.errors import ConfigError
from zootrain.run import train

REPO = Path(__file__).resolve().parent.parent
QUICK = ["trainer.limit_train_batches=6", "trainer.limit_val_batches=2", "trainer.num_sanity_val_steps=0"]


def _at(fault: str, epoch: int, batch: int, **args: str) -> list[str]:
    """Overrides adding the callback ``fault_injection.<fault>`` at an epoch and batch."""
    extra = [f"+callbacks.fault.{k}={v}" for k, v in args.items()]
    return [
        f"+callbacks.fault._target_=fault_injection.{fault}",
        f"+callbacks.fault.epoch={epoch}",
        f"+callbacks.fault.batch={batch}",
        *extra,
    ]


def once(*overrides: str) -> list[str]:
    """Each key once, with its last value: a command line that gives a key twice gets a notice."""
    return [f"{key}={value}" for key, value in {o.partition("=")[0]: o.partition("=")[2] for o in overrides}.items()]


def _train_cli(run_dir: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            *once(
                f"hydra.run.dir={run_dir}",
                "deterministic=true",
                *QUICK,
                "trainer.max_epochs=4",
                "trainer.accelerator=cpu",
                *args,
            ),
        ],
        cwd=run_dir.parent,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_as_from_a_terminal,
    )


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches the run as it does from a terminal, even when the tests were started in the background
    (a shell starts background jobs with SIGINT ignored, and a process inherits that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """An uninterrupted run, and the same run killed with SIGKILL in epoch 2 and started again."""
    root = tmp_path_factory.mktemp("resume")
    whole = _train_cli(root / "whole")
    killed = _train_cli(root / "killed", *_at("KillAt", epoch=2, batch=3))
    resumed = _train_cli(root / "killed")
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    return root, resumed


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.integration
def test_killed_run_resumes_to_identical_weights(killed_and_resumed):
    root, resumed = killed_and_resumed
    assert "resuming the unfinished run" in resumed.stdout
    whole, again = _weights(root / "whole"), _weights(root / "killed")
    assert whole.keys() == again.keys()
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    assert json.loads((root / "killed" / "metrics.json").read_text())["epochs"] == 4


@pytest.mark.integration
def test_resume_keeps_earlier_metrics_rows(killed_and_resumed):
    root, _ = killed_and_resumed
    assert _val_rows(root / "killed") == _val_rows(root / "whole")
    assert [epoch for epoch, _ in _val_rows(root / "whole")] == ["0", "1", "2", "3"]


def _val_rows(run_dir: Path) -> list[tuple[str, str]]:
    with (run_dir / "metrics.csv").open() as file:
        return [(row["epoch"], row["val/acc"]) for row in csv.DictReader(file) if row.get("val/acc")]


@pytest.fixture(scope="module")
def terminated_and_resumed(killed_and_resumed):
    """The run of ``killed_and_resumed`` stopped by SIGTERM in epoch 2 instead, what it left, and its restart."""
    root, _ = killed_and_resumed
    run_dir = root / "terminated"
    stopped = _train_cli(run_dir, *_at("SignalAt", epoch=2, batch=3, signum="SIGTERM"))
    left = {"finished": (run_dir / "metrics.json").is_file(), "last_epoch": _last(run_dir)["epoch"]}
    return root, stopped, left, _train_cli(run_dir)


def _last(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.integration
def test_sigterm_stops_the_run_with_a_nonzero_exit(terminated_and_resumed):
    _, stopped, left, _ = terminated_and_resumed
    assert stopped.returncode == 143, stopped.stderr[-2000:]  # 128 + SIGTERM: `train.py && evaluate.py` stops
    assert "stopped by SIGTERM; run the same command again to resume" in stopped.stdout
    assert left == {"finished": False, "last_epoch": 1}  # last.ckpt: the end of the last whole epoch


@pytest.mark.integration
def test_a_run_stopped_by_sigterm_resumes_to_identical_weights_and_metrics(terminated_and_resumed):
    root, _, _, resumed = terminated_and_resumed
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole, again = _weights(root / "whole"), _weights(root / "terminated")
    assert whole.keys() == again.keys() and all(torch.equal(whole[k], again[k]) for k in whole)
    assert _val_rows(root / "terminated") == _val_rows(root / "whole")


@pytest.mark.integration
def test_ctrl_c_stops_the_run_with_a_nonzero_exit(tmp_path):
    stopped = _train_cli(tmp_path / "run", *_at("SignalAt", epoch=1, batch=2, signum="SIGINT"))
    assert stopped.returncode != 0
    assert not (tmp_path / "run" / "metrics.json").is_file() and _last(tmp_path / "run")["epoch"] == 0


@pytest.mark.integration
def test_a_second_process_in_a_busy_run_directory_is_refused_before_it_writes(tmp_path):
    report = tmp_path / "second.json"  # the same command started again while the first one trains
    first = _train_cli(
        tmp_path / "run",
        "trainer.max_epochs=1",
        "+callbacks.busy._target_=fault_injection.RunWhileTraining",
        f"+callbacks.busy.report={report}",
    )
    assert first.returncode == 0, first.stderr[-2000:]
    second = json.loads(report.read_text())
    assert second["returncode"] == 1 and second["unchanged"]
    assert re.fullmatch(r"error: \S+/run is in use by another process \(.*\n", second["stderr"])


@pytest.mark.integration
def test_a_run_directory_belongs_to_one_process(make_cfg, tmp_path):
    report, run_dir = tmp_path / "second.json", tmp_path / "run"
    other = [sys.executable, str(REPO / "train.py"), f"hydra.run.dir={run_dir}", "trainer.accelerator=cpu", "seed=7"]
    train(make_cfg(*QUICK, "trainer.max_epochs=1"), extra_callbacks=[RunWhileTraining(str(report), other)])
    second = json.loads(report.read_text())
    assert second["returncode"] == 1 and second["unchanged"] and "is in use by another process" in second["stderr"]
    assert OmegaConf.load(run_dir / "config.yaml").seed == 42


@pytest.mark.integration
def test_other_settings_are_refused_in_a_run_directory_without_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    killed = _train_cli(run_dir, *_at("KillAt", epoch=0, batch=1))  # config.yaml written, no checkpoint yet
    assert killed.returncode == -9 and not list(run_dir.rglob("*.ckpt"))
    before = snapshot(run_dir)  # Hydra's .hydra/ and train.log included: claimed before Hydra writes
    other = _train_cli(run_dir, "seed=7")
    assert other.returncode == 1
    assert other.stderr.count("\n") == 1
    assert "holds an unfinished run with other settings (seed: 42 -> 7)" in other.stderr
    assert snapshot(run_dir) == before


def test_a_killed_checkpoint_saves_half_written_file_is_removed_on_restart(make_cfg):
    run_dir = Path(_finished_run(make_cfg)["run_dir"])
    (run_dir / "metrics.json").unlink()
    half_written = run_dir / "checkpoints" / ".last.ckpt.4242.tmp"
    half_written.write_bytes(b"partial")
    elsewhere = run_dir / ".notes.tmp"  # not a checkpoint save: left alone
    elsewhere.write_text("mine")
    assert train(make_cfg(*QUICK, "trainer.max_epochs=3"))["epochs"] == 3
    assert not half_written.exists() and elsewhere.read_text() == "mine"


def _finished_run(make_cfg, run: str = "run", *overrides: str) -> dict:
    return train(make_cfg(*QUICK, "trainer.max_epochs=2", *overrides, run=run))


def test_refused_resume_leaves_the_run_directory_untouched(make_cfg):
    result = _finished_run(make_cfg)
    run_dir = Path(result["run_dir"])
    (run_dir / "metrics.json").unlink()  # an unfinished run: it would be resumed
    before = snapshot(run_dir)
    with pytest.raises(ConfigError, match=r"unfinished run with other settings \(model.name: lenet5 -> resnet18"):
        train(make_cfg(*QUICK, "trainer.max_epochs=3", "model=resnet18"))
    assert snapshot(run_dir) == before


def test_failed_checkpoint_write_keeps_the_previous_one(make_cfg, monkeypatch):
    result = _finished_run(make_cfg)
    run_dir = Path(result["run_dir"])
    (run_dir / "metrics.json").unlink()
    last = run_dir / "checkpoints" / "last.ckpt"
    previous = last.read_bytes()

    def disk_full(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(SystemExit) as stopped:
        run_reporting_user_errors(train, make_cfg(*QUICK, "trainer.max_epochs=3"))
    assert "No space left on device" in str(stopped.value.code) and "\n" not in str(stopped.value.code)
    assert last.read_bytes() == previous
    assert not list(run_dir.rglob("*.tmp"))


def test_truncated_last_checkpoint_falls_back_to_a_readable_one(make_cfg, caplog):
    result = _finished_run(make_cfg)
    run_dir = Path(result["run_dir"])
    (run_dir / "metrics.json").unlink()
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    caplog.set_level(logging.INFO, logger="zootrain")
    resumed = train(make_cfg(*QUICK, "trainer.max_epochs=3"))
    assert resumed["epochs"] == 3
    assert re.search(r"notice: last.ckpt in \S+ cannot be read; resuming from best-epoch\S+ instead", caplog.text)


@pytest.mark.integration
def test_runs_started_together_get_their_own_directories(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        str(REPO / "train.py"),
        f"paths.log_dir={tmp_path}",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "callbacks.progress_bar.refresh_rate=0",
        *QUICK,
    ]
    procs = [
        subprocess.Popen(
            [*args, f"seed={seed}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for seed in (1, 2)
    ]
    assert all(p.wait() == 0 for p in procs), [p.stderr.read()[-1000:] for p in procs]
    run_dirs = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(run_dirs) == 2
    seeds = sorted(OmegaConf.load(d / "config.yaml").seed for d in run_dirs)
    assert seeds == [1, 2]


def test_finished_run_is_not_trained_again(make_cfg, caplog):
    first = _finished_run(make_cfg)
    caplog.set_level(logging.INFO, logger="zootrain")
    again = train(make_cfg(*QUICK, "trainer.max_epochs=2"))
    assert again == json.loads(json.dumps(first))
    assert "already holds this finished run" in caplog.text


@pytest.mark.integration
def test_the_console_is_quiet_and_train_log_holds_the_run(killed_and_resumed):
    root, resumed = killed_and_resumed
    shown = resumed.stdout + resumed.stderr
    for noise in ("Tip:", "will be deleted", "LeafSpec", "TPU available"):
        assert noise not in shown, noise
    log = (root / "killed" / "train.log").read_text()
    assert "model: lenet5" in log and "val/acc" in log and "resuming the unfinished run" in log


def test_only_rank_zero_touches_metrics_csv(tmp_path, monkeypatch):
    # another rank rewriting metrics.csv while rank 0 appends to it broke DDP runs at random
    from lightning.pytorch.utilities import rank_zero_only

    from zootrain.resume import RunCSVLogger

    (tmp_path / "metrics.csv").write_text("epoch,step,val/acc\n0,5,0.5\n")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = RunCSVLogger(save_dir=str(tmp_path), name="", version="")
    logger.experiment.log_metrics({"val/acc": 0.9}, step=9)
    logger.save()
    assert (tmp_path / "metrics.csv").read_text() == "epoch,step,val/acc\n0,5,0.5\n"

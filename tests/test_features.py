"""Training features chosen in the config: EMA of the weights, early stopping, test-time augmentation, experiment
loggers, sweep summaries, what the console says. Tiny runs on the embedded digits dataset."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import compose_config
from lightning.pytorch.callbacks import EMAWeightAveraging

from zoo.export import build
from zootrain.errors import ConfigError
from zootrain.module import augmented_views
from zootrain.run import evaluate, train
from zootrain.sweep import OBJECTIVE

REPO = Path(__file__).resolve().parent.parent

TINY = ["trainer.limit_train_batches=4", "trainer.num_sanity_val_steps=0"]


# ----- EMA of the weights -----
def _checkpoint(result: dict) -> dict:
    return torch.load(result["last_model_path"], weights_only=True)


class WeightsAtStart(L.Callback):
    """The module's weights and the EMA callback's average when this fit's first training epoch begins."""

    def on_train_epoch_start(self, trainer, pl_module):
        if not hasattr(self, "training"):
            ema = next(c for c in trainer.callbacks if isinstance(c, EMAWeightAveraging))
            self.training = {k: v.clone() for k, v in pl_module.state_dict().items()}
            self.average = {k: v.clone() for k, v in ema._average_model.module.state_dict().items()}


@pytest.fixture(scope="module")
def ema_runs(tmp_path_factory):
    """One epoch with EMA, then resumed from its checkpoint for a second."""
    root = tmp_path_factory.mktemp("ema")
    base = ["trainer.accelerator=cpu", "callbacks.progress_bar.refresh_rate=0", "trainer.enable_model_summary=false"]
    base += ["callbacks=ema", *TINY]
    first = train(compose_config("train", [*base, "trainer.max_epochs=1"], root / "first"))
    probe = WeightsAtStart()
    resume = [*base, "trainer.max_epochs=2", f"ckpt_path={first['last_model_path']}"]
    resumed = train(compose_config("train", resume, root / "resumed"), extra_callbacks=[probe])
    return root, first, resumed, probe


def test_ema_checkpoints_hold_the_average_and_keep_the_training_weights(ema_runs):
    _, first, _, _ = ema_runs
    ckpt = _checkpoint(first)
    average, training = ckpt["state_dict"], ckpt["current_model_state"]
    assert average.keys() == training.keys()
    assert any(not torch.equal(average[k], training[k]) for k in average)
    exported = build("lenet5", first["last_model_path"], num_classes=None, in_chans=1)  # python -m zoo.export
    assert all(torch.equal(v, average[f"net.{k}"]) for k, v in exported.state_dict().items())


def test_a_resumed_ema_run_continues_from_both_the_training_weights_and_the_average(ema_runs):
    _, first, resumed, probe = ema_runs
    ckpt = _checkpoint(first)
    assert all(torch.equal(probe.training[k], v) for k, v in ckpt["current_model_state"].items())
    assert all(torch.equal(probe.average[k], v) for k, v in ckpt["state_dict"].items())
    assert resumed["epochs"] == 2


def test_evaluate_reads_the_ema_weights_that_validated(ema_runs):
    root, first, _, _ = ema_runs
    overrides = ["trainer.accelerator=cpu", f"ckpt_path={first['last_model_path']}", "split=val"]
    metrics = evaluate(compose_config("evaluate", overrides, root / "eval"))
    assert metrics["top1"] == pytest.approx(first["val/acc"], abs=1e-6)


# ----- early stopping -----
def test_early_stopping_ends_the_run_when_val_acc_stops_improving(make_cfg):
    # min_delta 1.0: no epoch after the first can improve on it, so the run stops after patience + 1 validations
    stopping = ["callbacks=early_stopping", "callbacks.early_stopping.patience=1"]
    stopping += ["callbacks.early_stopping.min_delta=1"]
    result = train(make_cfg(*TINY, "trainer.max_epochs=10", *stopping))
    assert result["epochs"] == 2 and Path(result["best_model_path"]).is_file()


# ----- test-time augmentation -----
def test_tta_views_are_the_mirror_and_shifted_crops():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    assert [v.shape for v in augmented_views(x, "flip")] == [x.shape] * 2
    views = augmented_views(x, "flip_crops")
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    assert torch.equal(views[1], x.flip(-1))
    shift = 32 // 16  # the crop at the top left corner of the padded image: the image moved down and right
    assert torch.equal(views[2][..., shift:, shift:], x[..., :-shift, :-shift])


def test_evaluate_reports_the_tta_accuracy_beside_the_plain_one(make_cfg, tmp_path, capsys):
    ckpt = train(make_cfg(*TINY, "trainer.max_epochs=1"))["last_model_path"]
    plain = evaluate(make_cfg(f"ckpt_path={ckpt}", config_name="evaluate", run="plain"))
    metrics = evaluate(make_cfg(f"ckpt_path={ckpt}", "tta=flip", config_name="evaluate", run="tta"))
    assert metrics["tta"] == "flip" and 0 <= metrics["top1_tta"] <= 1
    assert metrics["top1"] == plain["top1"]  # the plain figure stays the plain model's
    assert json.loads((tmp_path / "tta" / "metrics.json").read_text())["top1_tta"] == metrics["top1_tta"]
    assert f"(tta=flip: {metrics['top1_tta']:.4f})" in capsys.readouterr().out


def test_an_unknown_tta_is_one_error_naming_the_choices(make_cfg):
    ckpt = train(make_cfg(*TINY, "trainer.max_epochs=1"))["last_model_path"]
    with pytest.raises(ConfigError, match="tta='mirror': choose one of flip, flip_crops"):
        evaluate(make_cfg(f"ckpt_path={ckpt}", "tta=mirror", config_name="evaluate", run="tta"))


# ----- experiment loggers -----
@pytest.mark.integration
def test_mlflow_logs_the_resolved_config_and_the_final_metrics_offline(make_cfg, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    result = train(make_cfg(*TINY, "trainer.max_epochs=2", "logger=mlflow", "optimizer.lr=0.03"))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "train"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["config/optimizer/lr"] == "0.03" and run.data.params["config/model/name"] == "lenet5"
    assert run.data.metrics["val/acc"] == pytest.approx(result["val/acc"])
    assert "val/acc_best" in run.data.metrics
    assert (tmp_path / "run" / "metrics.csv").is_file()  # beside metrics.csv, not instead


class WandbRecord(L.Callback):
    """What the W&B run holds at the end of training (its files are written when the run finishes)."""

    def on_fit_end(self, trainer, pl_module):
        (run,) = [lg.experiment for lg in trainer.loggers if type(lg).__name__ == "WandbLogger"]
        self.config, self.summary = dict(run.config), dict(run.summary)


def test_wandb_logs_offline_under_the_run_directory(make_cfg, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    record = WandbRecord()
    cfg = make_cfg(*TINY, "trainer.max_epochs=1", "logger=wandb", "optimizer.lr=0.03")
    result = train(cfg, extra_callbacks=[record])
    wandb.finish()
    settings = record.config["config"]  # W&B keeps the nesting
    assert settings["optimizer"]["lr"] == 0.03 and settings["model"]["name"] == "lenet5"
    assert record.summary["val/acc"] == pytest.approx(result["val/acc"])
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))


def _train_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / "train.py"), *args, "trainer.max_epochs=1"]
    command += ["callbacks.progress_bar.refresh_rate=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


# ----- sweep summaries -----
def _job(sweep: Path, name: str, overrides: list[str], **files: str) -> None:
    (sweep / name / ".hydra").mkdir(parents=True)
    (sweep / name / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    for filename, text in files.items():
        (sweep / name / filename.replace("_", ".")).write_text(text)


def test_the_sweep_summary_reads_each_points_objective_and_failure(tmp_path):
    from omegaconf import OmegaConf

    from zootrain.sweep import SweepSummary

    _job(tmp_path, "a", ["optimizer.lr=0.1", "sweep_name=s"], metrics_json='{"val/acc": 0.5}')
    _job(tmp_path, "b", ["optimizer.lr=0.2", "sweep_name=s"], metrics_json='{"val/acc": 0.75}')
    _job(tmp_path, "c", ["optimizer.lr=9", "sweep_name=s"], failed_txt="error: the training loss became nan\n")
    _job(tmp_path, "d", ["optimizer.lr=0.3", "sweep_name=s"])
    SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    summary = json.loads((tmp_path / "sweep_summary.json").read_text())
    assert [p["status"] for p in summary["points"]] == ["completed", "completed", "failed", "unfinished"]
    assert summary["points"][2]["reason"] == "error: the training loss became nan"
    assert summary["best"]["overrides"] == ["optimizer.lr=0.2", "sweep_name=s"]
    table = (tmp_path / "sweep_summary.md").read_text().splitlines()
    assert table[0] == "| optimizer.lr | val/acc | status |"  # only what varies between the points
    assert (
        "| 0.2 | 0.7500 | completed |" in table and table[-1] == "best: optimizer.lr=0.2 sweep_name=s (val/acc 0.7500)"
    )


@pytest.mark.integration
def test_a_grid_sweep_writes_its_summary_where_it_ran(tmp_path):
    done = _train_cli(tmp_path, "-m", "optimizer.lr=0.02,0.05", "sweep_name=tiny", f"paths.log_dir={tmp_path}", *TINY)
    sweep = tmp_path / "train" / "multiruns" / "tiny"
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert [p["status"] for p in summary["points"]] == ["completed", "completed"]
    assert summary["best"][OBJECTIVE] == max(p[OBJECTIVE] for p in summary["points"])
    assert "| optimizer.lr | val/acc | status |" in (sweep / "sweep_summary.md").read_text()
    assert "sweep: 2 points, 2 completed, 0 failed; best" in done.stdout + done.stderr


@pytest.mark.integration
def test_an_optuna_search_writes_the_same_summary(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    search = ["hparams_search=optuna_lr_wd", "hydra.sweeper.n_trials=2", "sweep_name=opt", f"paths.log_dir={tmp_path}"]
    _train_cli(tmp_path, *search, *TINY)
    summary = json.loads((tmp_path / "train" / "multiruns" / "opt" / "sweep_summary.json").read_text())
    assert [p["status"] for p in summary["points"]] == ["completed", "completed"]
    assert all(any(o.startswith("optimizer.lr=") for o in p["overrides"]) for p in summary["points"])


# ----- the console -----
@pytest.mark.integration
def test_a_run_prints_its_resolved_config_first_and_a_fast_dev_run_says_it_wrote_no_checkpoint(tmp_path):
    done = _train_cli(tmp_path, f"hydra.run.dir={tmp_path / 'run'}", "trainer.fast_dev_run=true", "optimizer.lr=0.0123")
    shown = done.stdout + done.stderr
    assert shown.index("config:") < shown.index("model: lenet5") and "lr: 0.0123" in shown
    assert "best checkpoint: none: fast_dev_run writes no checkpoints" in shown


def test_gradual_unfreezing_says_what_thaws_and_at_which_lr(make_cfg, caplog):
    with caplog.at_level(logging.INFO, logger="zootrain.module"):
        train(
            make_cfg(*TINY, "trainer.max_epochs=2", "finetune.strategy=milestones", "finetune.unfreeze_milestones=[1]")
        )
    (line,) = [r.getMessage() for r in caplog.records if "unfreezing" in r.getMessage()]
    assert line.startswith("epoch 1: unfreezing stage3 (lr ") and "finetune.strategy=milestones" in line


def test_the_progress_bar_is_redrawn_after_a_second_even_between_refresh_batches(monkeypatch):
    from zootrain import console

    clock = [0.0]
    monkeypatch.setattr(console.time, "monotonic", lambda: clock[0])
    bar = console.TimelyProgressBar(refresh_rate=10)
    assert [bar._should_update(i, 100) for i in (1, 2, 10)] == [False, False, True]
    clock[0] += console.REFRESH_EVERY_S
    assert bar._should_update(11, 100) and not bar._should_update(12, 100)
    assert not console.TimelyProgressBar(refresh_rate=0)._should_update(1, 100)  # 0: no bar at all


# ----- lr_find -----
def test_lr_find_on_a_flat_curve_warns_and_suggests_nothing(make_cfg, tmp_path, caplog):
    # an lr far too small for 10 steps to change anything: the curve stays flat
    with caplog.at_level(logging.WARNING, logger="zootrain.lr_find"):
        result = train(make_cfg("tune=lr_find", "tune_steps=10", "optimizer.lr=1e-7", run="flat"))
    assert result["suggested_lr"] is None
    assert "lr_find: no reliable suggestion" in caplog.text
    assert (tmp_path / "flat" / "lr_find.png").stat().st_size > 0

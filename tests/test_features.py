"""Training features chosen in the config: EMA of the weights, early stopping, test-time augmentation, experiment
loggers, sweep summaries, what the console says. Tiny runs on the embedded digits dataset."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import compose_config
from lightning.pytorch.callbacks import EMAWeightAveraging

from zootrain.errors import ConfigError
from zootrain.module import augmented_views
from zootrain.run import evaluate, train

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
    with pytest.raises(ConfigError, match="tta='mirror'; choose flip .* flip_crops"):
        evaluate(make_cfg(f"ckpt_path={ckpt}", "tta=mirror", config_name="evaluate", run="tta"))


# ----- experiment loggers -----
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

"""The train/evaluate command line: what a user types first."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import CONFIG_DIR, compose_config
from hydra.core.config_store import ConfigStore
from hydra.errors import MissingConfigException
from test_zoo_contract import REPRESENTATIVES

from zoo import list_models, model_info
from zoo.registry import model_arguments
from zootrain.config_store import MODEL_KEYS
from zootrain.errors import ConfigError
from zootrain.run import evaluate, train

REPO = Path(__file__).resolve().parent.parent
FAMILY_ALIASES = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))
DATASET_CONFIGS = sorted(p.stem for p in (Path(CONFIG_DIR) / "dataset").glob("*.yaml"))


@pytest.mark.integration
def test_default_run_on_digits_reaches_90_percent(make_cfg):
    result = train(make_cfg())
    assert result["model"] == "lenet5"
    assert result["val/acc"] >= 0.90
    run_dir = Path(result["run_dir"])
    for artefact in ("config.yaml", "metrics.csv", "curves.png", "filters.png", "checkpoints/last.ckpt"):
        assert (run_dir / artefact).is_file(), artefact
    assert Path(result["best_model_path"]).is_file()


def test_evaluate_on_the_checkpoint_reproduces_validation_accuracy(make_cfg, tmp_path):
    result = train(make_cfg("trainer.max_epochs=6"))
    ckpt = result["best_model_path"]
    callback_states = torch.load(ckpt, weights_only=True)["callbacks"]
    score = next(v["best_model_score"] for k, v in callback_states.items() if "val/acc" in k)
    metrics = evaluate(make_cfg(f"ckpt_path={ckpt}", "split=val", config_name="evaluate", run="eval"))
    assert metrics["top1"] == pytest.approx(float(score), abs=1e-6) and metrics["top1"] > 0.5
    assert (tmp_path / "eval" / "confusion_matrix.png").is_file()
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(written["per_class_accuracy"]) == {str(d) for d in range(10)}
    assert sum(map(sum, written["confusion_matrix"])) == written["num_samples"]


class OptimizerStateAtStart(L.Callback):
    """Epoch, step and momentum buffers when the first training epoch of this fit begins."""

    def on_train_epoch_start(self, trainer, pl_module):
        if hasattr(self, "epoch"):
            return
        self.epoch, self.step = trainer.current_epoch, trainer.global_step
        self.state = {k: v["momentum_buffer"].clone() for k, v in trainer.optimizers[0].state_dict()["state"].items()}


def test_resume_from_last_checkpoint_continues_exactly(make_cfg):
    first = train(make_cfg("trainer.max_epochs=2"))
    saved = torch.load(first["last_model_path"], weights_only=True)
    probe = OptimizerStateAtStart()
    second = train(
        make_cfg("trainer.max_epochs=3", f"ckpt_path={first['last_model_path']}", run="resumed"),
        extra_callbacks=[probe],
    )
    assert (probe.epoch, probe.step) == (2, saved["global_step"])
    saved_state = saved["optimizer_states"][0]["state"]
    assert probe.state.keys() == saved_state.keys()
    assert all(torch.equal(probe.state[k], saved_state[k]["momentum_buffer"]) for k in saved_state)
    assert second["epochs"] == 3
    assert torch.load(second["last_model_path"], weights_only=True)["global_step"] == saved["global_step"] * 3 // 2


class TrainingLosses(L.Callback):
    """Each training step's loss and batch size, by the step number the loggers write it under."""

    def __init__(self):
        self.by_step: dict[int, tuple[float, int]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.by_step[trainer.global_step - 1] = (outputs["loss"].item(), len(batch[1]))


def test_metrics_csv_holds_each_logged_steps_own_loss_and_the_epochs_weighted_mean(make_cfg):
    probe = TrainingLosses()
    result = train(make_cfg("trainer.max_epochs=1", "trainer.log_every_n_steps=3"), extra_callbacks=[probe])
    rows = list(csv.DictReader((Path(result["run_dir"]) / "metrics.csv").open()))
    step_rows = {int(r["step"]): float(r["train/loss_step"]) for r in rows if r["train/loss_step"]}
    assert sorted(step_rows) == [s for s in probe.by_step if (s + 1) % 3 == 0]
    assert all(step_rows[s] == pytest.approx(probe.by_step[s][0], rel=1e-6) for s in step_rows)
    total = sum(size for _, size in probe.by_step.values())
    weighted_mean = sum(loss * size for loss, size in probe.by_step.values()) / total
    (epoch_loss,) = [float(r["train/loss_epoch"]) for r in rows if r["train/loss_epoch"]]
    assert epoch_loss == pytest.approx(weighted_mean, rel=1e-5)


def test_same_seed_deterministic_runs_give_identical_metrics(make_cfg):
    runs = [train(make_cfg("trainer.max_epochs=2", "deterministic=true", run=f"r{i}")) for i in range(2)]
    keys = [k for k in runs[0] if "/" in k]
    assert keys and all(runs[0][k] == runs[1][k] for k in keys)


# ImageNet-sized models take 10-50 s each on 2 CPU cores (the README's commands run inception_v3, alexnet and
# resnet18 at full size by default): they run with -m slow; of the small-input ones, one per paper in the default
# run and the others (a few seconds each, deep ones 10 s) with -m integration
SMALL_OR_SLOW = [
    pytest.param(n, marks=pytest.mark.slow)
    if model_info(n).input_size[1] > 64
    else n
    if n in REPRESENTATIVES
    else pytest.param(n, marks=pytest.mark.integration)
    for n in list_models()
]


@pytest.mark.parametrize("model", SMALL_OR_SLOW)
def test_every_model_config_passes_fast_dev_run(make_cfg, model):
    result = train(make_cfg(f"model={model}", "debug=fast_dev_run", "dataset.batch_size=2"))
    assert result["model"] in list_models()
    assert torch.isfinite(torch.tensor(result["train/loss_step"]))


def test_every_registered_model_is_a_model_config_with_its_factory_arguments():
    """Every name has its node in the config store (what ``model=<name>`` composes; composing each of the 52 in
    full would cost 10 s for what one composition below shows the store does)."""
    for name in list_models():
        node = ConfigStore.instance().load(f"model/{name}.yaml").node
        assert node.name == name
        assert set(node) - set(MODEL_KEYS) == set(model_arguments(name)), name
    cfg = compose_config("train", ["model=densenet121"], Path("/tmp/unused"))
    assert cfg.model.name == "densenet121" and set(cfg.model) - set(MODEL_KEYS) == set(model_arguments("densenet121"))
    for alias in FAMILY_ALIASES:
        assert alias not in list_models()
        assert compose_config("train", [f"model={alias}"], Path("/tmp/unused")).model.name in list_models(), alias


def test_a_model_argument_is_a_typed_key_without_plus():
    cfg = compose_config("train", ["model=resnet18", "model.zero_init_residual=true"], Path("/tmp/unused"))
    assert cfg.model.zero_init_residual is True


@pytest.mark.parametrize("dataset", DATASET_CONFIGS)
def test_every_dataset_config_composes_with_each_family(dataset):
    """Each model config composes on its own (above); with a dataset, one model per family (its alias) stands for
    the family's configs, which differ only in their factory's arguments."""
    for model in FAMILY_ALIASES:
        cfg = compose_config("train", [f"model={model}", f"dataset={dataset}"], Path("/tmp/unused"))
        assert cfg.dataset.name == dataset and cfg.model.name


def test_unknown_model_override_lists_the_choices():
    with pytest.raises(MissingConfigException) as err:
        compose_config("train", ["model=resnet-18"], Path("/tmp/unused"))
    assert "resnet18" in str(err.value) and "lenet5" in str(err.value)


def test_model_name_without_its_config_is_refused_pointing_to_model_equals(make_cfg):
    # model.name=... would build resnet34 with resnet18's node: its arguments, unchecked
    with pytest.raises(ConfigError, match=r"model.name=resnet34 differs .* \(model=resnet18\); switch models with "):
        train(make_cfg("model=resnet18", "model.name=resnet34"))


def test_a_small_image_sibling_gets_only_the_arguments_it_takes(make_cfg):
    assert train(make_cfg("model=vgg16_bn", "debug=fast_dev_run", "dataset.batch_size=2"))["model"] == "vgg16_bn_cifar"
    with pytest.raises(ConfigError, match=r"vgg16_bn_cifar \(what vgg16_bn trains as .*\) takes no model.dropout"):
        train(make_cfg("model=vgg16_bn", "model.dropout=0.3", run="changed"))

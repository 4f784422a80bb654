"""The one schema (zootrain/schema.py): every key of every config has a type and a range, each value out of them is
one error line naming the key, its value and what it may be, and runs that could not mean anything are refused."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from conftest import CONFIG_DIR, compose_config
from hydra.utils import get_class
from test_bad_input import QUICK

from zoo import list_models
from zoo.registry import model_arguments
from zootrain.data import DataConfigError, DatasetConfig
from zootrain.errors import ConfigError
from zootrain.finetune import FinetuneSpec
from zootrain.optim import OPTIMIZERS, SCHEDULERS
from zootrain.run import train
from zootrain.schema import RANGES, accepted_arguments, settings
from zootrain.settings import check_train_settings

REPO = Path(__file__).resolve().parent.parent
CONFIGS = Path(CONFIG_DIR)


def options(group: str) -> list[str]:
    return [f"{group}={p.stem}" for p in sorted((CONFIGS / group).glob("*.yaml"))]


def refusal(tmp_path: Path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as refused:
        check_train_settings(compose_config("train", list(overrides), tmp_path / "run"))
    return str(refused.value)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("finetune.head_lr_mult=-1", "finetune.head_lr_mult=-1.0: give a number > 0"),
        ("finetune.layer_decay=-1", "finetune.layer_decay=-1.0: give a number in (0, 1]"),
        ("finetune.backbone_lr_mult=0", "finetune.backbone_lr_mult=0.0: give a number > 0"),
        ("scheduler.min_lr_ratio=-1", "scheduler.min_lr_ratio=-1: give a number in [0, 1]"),
        ("optimizer.weight_decay=-1", "optimizer.weight_decay=-1: give a number >= 0"),
        ("trainer.max_epochs=-1", "trainer.max_epochs=-1: give a whole number in [1, 10000]"),
        ("trainer.max_epochs=1000000000", "trainer.max_epochs=1000000000: give a whole number in [1, 10000]"),
        ("dataset.image_size=100000", "dataset.image_size=100000: give a whole number in [1, 4096], or choose null"),
        ("trainer.limit_train_batches=0", "trainer.limit_train_batches=0: the run would train on nothing"),
        ("trainer.limit_val_batches=1.5", "trainer.limit_val_batches=1.5: give a whole number >= 0 or a number in"),
        ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps=0"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0"),
        ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch=0"),
        ("trainer.precision=17", "trainer.precision=17: choose one of auto, 64, 32, 16"),
        ("trainer.accelerator=quantum", "trainer.accelerator='quantum'"),
        ("trainer.devices=0", "trainer.devices=0"),
        ("+trainer.max_epoch=3", "did you mean trainer.max_epochs"),
        ("+trainer.callbacks=[]", "trainer.callbacks is not a setting"),
        ("+optimizer.foo=1", "optimizer.foo is not a setting"),
        ("+lr=0.1", "lr is not a setting"),
        ("seed=-1", "seed=-1: give a whole number in [0, 4294967295]"),
        ("dataset.std=[0]", "dataset.std=[0.0]: give a list of numbers > 0"),
    ],
)
def test_a_value_out_of_its_range_is_one_line_naming_key_value_and_range(tmp_path, override, expected):
    message = refusal(tmp_path, override)
    assert expected in message and "\n" not in message, message


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["optimizer=adamw", "optimizer.betas=[0.9]"], "optimizer.betas=[0.9]: give a list of 2 numbers in [0, 1)"),
        (["scheduler=step", "scheduler.gamma=0"], "scheduler.gamma=0: give a number in (0, 1]"),
        (["optimizer.momentum=0"], "Nesterov momentum needs optimizer.momentum > 0"),
        (["scheduler._target_=torch.optim.lr_scheduler.CosineAnnealingLR", "~scheduler.warmup_fraction",
          "~scheduler.min_lr_ratio"], "scheduler.T_max must be set"),
        (["model=densenet121", "model.drop_rate=1.0"], "model.drop_rate=1.0: give a number in [0, 1)"),
    ],
)  # fmt: skip
def test_settings_of_the_chosen_callable_are_checked_against_its_own_signature(tmp_path, overrides, expected):
    assert expected in refusal(tmp_path, *overrides)


CONFIG_CHOICES = [
    "",
    *options("experiment"),
    *options("trainer"),
    *options("optimizer"),
    *options("finetune"),
    *options("dataset"),
    *options("debug"),
    *[o for o in options("scheduler") if o != "scheduler=multistep"],  # its milestones are required (???)
]


@pytest.mark.parametrize("choice", CONFIG_CHOICES)
def test_every_key_of_every_shipped_config_has_a_type_and_range(tmp_path, choice):
    cfg = compose_config("train", [choice, "finetune.init_from=x", "dataset.root=x"] if choice else [], tmp_path)
    untyped = [key for key, _, kinds in settings(cfg) if not kinds]
    assert untyped == []


def test_every_key_of_the_evaluate_config_has_a_type_and_range(tmp_path):
    cfg = compose_config("evaluate", ["ckpt_path=x", "+dataset.image_size=32"], tmp_path)
    keys = {key: kinds for key, _, kinds in settings(cfg)}
    assert {"split", "top_k", "misclassified", "trainer.max_epochs", "dataset.image_size"} <= set(keys)
    assert all(keys.values())


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["dataset.val_fraction=0"], "the val split of dataset=digits is empty"),
        (["dataset.classes=[3]"], "digits has only the class 3 to learn; a classifier needs at least 2"),
        (["finetune.freeze=[backbone,head]"], "freezes every group of LeNet5, so nothing would train"),
        (["finetune.freeze_until=head"], "freezes every group of LeNet5, so nothing would train"),
    ],
)
def test_a_run_that_could_not_mean_anything_is_refused_before_anything_is_written(tmp_path, overrides, expected):
    with pytest.raises((ConfigError, DataConfigError), match=expected):
        train(compose_config("train", [*QUICK, "threads=1", *overrides], tmp_path / "run"))
    # the run directory's lock (taken before any check) is all there is: no settings, metrics or checkpoints
    assert [p.name for p in (tmp_path / "run").iterdir()] == [".lock"]


def test_training_without_validation_stays_possible(tmp_path):
    result = train(
        compose_config(
            "train", [*QUICK, "threads=1", "dataset.val_fraction=0", "trainer.limit_val_batches=0"], tmp_path / "run"
        )
    )
    assert result["train/loss_epoch"] is not None and (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def sweep(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), "-m", *args, f"paths.log_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


@pytest.mark.integration
def test_a_misspelt_option_in_a_sweep_is_one_line(tmp_path):
    proc = sweep(tmp_path, "optimizer.lrr=0.1,0.2")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: in the sweep point optimizer.lrr=0.1: Could not override 'optimizer.lrr'. To append to your config "
        "use +optimizer.lrr=0.1: Key 'lrr' is not in struct"
    ]
    assert not tmp_path.joinpath("train").exists()


@pytest.mark.integration
def test_a_bad_point_fails_alone_and_the_sweep_exits_non_zero(tmp_path):
    proc = sweep(tmp_path, "optimizer.lr=0.1,-1", "sweep_name=s", *QUICK, "threads=1")
    jobs = tmp_path / "train" / "multiruns" / "s"
    good, bad = (next(jobs.glob(f"optimizer.lr={lr},*")) for lr in ("0.1", "-1"))
    assert (good / "metrics.json").is_file() and not (good / "failed.txt").exists()
    assert (bad / "failed.txt").read_text() == "error: optimizer.lr=-1: give a number > 0\n"
    assert not (bad / "config.yaml").exists()
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "error: optimizer.lr=-1: give a number > 0" in proc.stderr.splitlines()
    assert proc.stderr.strip().splitlines()[-1].startswith("error: 1 point(s) of the sweep could not run")


@pytest.mark.integration
def test_a_value_wrong_for_every_point_stops_the_sweep_before_it_starts(tmp_path):
    proc = sweep(tmp_path, "optimizer.lr=0.1,0.2", "trainer.max_epochs=-1")
    assert proc.stderr.strip().splitlines() == [
        "error: every point of the sweep: trainer.max_epochs=-1: give a whole number in [1, 10000]"
    ]
    assert proc.returncode != 0 and not tmp_path.joinpath("train").exists()


def test_every_range_belongs_to_a_setting_its_source_declares(tmp_path):
    """A renamed field (the datamodule's, a factory's, a callback's) must not leave a range behind that checks
    nothing."""
    callbacks = compose_config("train", ["callbacks=[ema,early_stopping]"], tmp_path).callbacks
    sources = {
        "callbacks": {
            f"{name}.{arg}" for name, node in callbacks.items() for arg in accepted_arguments(get_class(node._target_))
        },
        "finetune": {f.name for f in dataclasses.fields(FinetuneSpec)},
        "dataset": {f.name for f in dataclasses.fields(DatasetConfig)},
        "model": {arg for name in list_models() for arg in model_arguments(name)} | {"name", "variant"},
        "trainer": set(inspect.signature(L.Trainer).parameters) | {"_target_"},
        **{
            group: {"_partial_", *(arg for factory in table.values() for arg in inspect.signature(factory).parameters)}
            for group, table in (("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS))
        },
    }
    orphans = [key for key in RANGES if "." in key and key.split(".", 1)[1] not in sources[key.split(".", 1)[0]]]
    assert orphans == []


def test_an_optuna_search_is_checked_at_the_ends_of_its_intervals():
    """The basic sweeper cannot expand Optuna's interval(); preflight checks each interval's two ends instead."""
    from hydra import compose, initialize_config_dir

    from zootrain.cli import _parse, sweep_points

    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose("train", overrides=["hparams_search=optuna_lr_wd"], return_hydra_config=True)
    points = sweep_points(cfg, _parse(["optimizer.momentum=0.8,0.9"]))
    assert sorted(map(tuple, points)) == sorted(
        (f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}", f"optimizer.momentum={m}")
        for lr in (0.005, 0.5)
        for wd in (1e-05, 0.001)
        for m in (0.8, 0.9)
    )


def test_early_stopping_needs_something_to_watch_and_a_switched_off_callback_is_no_callback(tmp_path):
    unvalidated = ["callbacks=early_stopping", "trainer.limit_val_batches=0", "callbacks.progress_bar=null"]
    message = refusal(tmp_path, *unvalidated)
    assert message.startswith("callbacks.early_stopping.monitor='val/acc'") and "nothing to watch" in message
    watching_training = [*unvalidated, "callbacks.early_stopping.monitor=train/acc"]
    check_train_settings(compose_config("train", watching_training, tmp_path))

"""Hostile inputs beyond docs/reliability.md's first 78 rows, one test per mechanism that closes them (rows 79 on run
as commands through tests/test_bad_input.py): settings checked against each other and against the data, resumes
that must continue the checkpoint's own run, run directories that hold another run's files, Hydra's own flags and
keys, configured objects of the wrong kind, files that are not what they claim, and the library's arguments.
In-process and fast: one short training makes the checkpoint the others read."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import torch
from conftest import compose_config
from omegaconf import OmegaConf
from PIL import Image
from test_bad_input import QUICK
from torch._utils import ExceptionWrapper

import zoo.summary
from zoo import DataConfig, WeightsError, create_model, list_models
from zoo.export import output_refusal
from zoo.publish_weights import accuracy_from_metrics, publish
from zoo.weights import load_pretrained
from zootrain.checkpoint import load_training_checkpoint
from zootrain.cli import preflight, run_reporting_user_errors, user_message
from zootrain.data import DataConfigError
from zootrain.errors import ConfigError
from zootrain.evaluation_data import evaluation_datamodule, load_module
from zootrain.module import ZooClassifier
from zootrain.predict import read_images
from zootrain.resume import RunDirectory, checkpoint_to_resume
from zootrain.run import build_datamodule, built, train
from zootrain.settings import (
    check_data_fits_run,
    check_evaluate_settings,
    check_input_fits,
    check_something_trains,
    check_train_settings,
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished default run (its directory; its checkpoint is checkpoints/last.ckpt)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    train(compose_config("train", [*QUICK, "threads=1"], run))
    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(error: type[Exception], call, *args) -> str:
    with pytest.raises(error) as raised:
        call(*args)
    message = str(raised.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["task_name=../../escape"], "task_name='../../escape': give a name of letters"),
        (["sweep_name=a/b"], "sweep_name='a/b': give a name"),
        (["+trainer.max_time=abc"], "trainer.max_time='abc': give a duration DD:HH:MM:SS"),
        (["+trainer.val_check_interval=abc"], "trainer.val_check_interval='abc'"),
        (["+trainer.profiler=xla"], "trainer.profiler='xla': choose one of simple, advanced, pytorch, null"),
        (
            ["+optimizer.differentiable=true"],
            "optimizer.differentiable=True: choose False (Lightning steps the weights in place",
        ),
        (["+optimizer.maximize=true"], "optimizer.maximize=True: choose False (it climbs the loss"),
        (["optimizer=adam", "+optimizer.capturable=true"], "optimizer.capturable=True: keeps the optimizer's state"),
        (["+trainer.min_epochs=5"], "trainer.min_epochs=5: more than trainer.max_epochs=1"),
        (["+trainer.num_nodes=2"], "trainer.num_nodes=2: needs every node's processes started by srun"),
        (["callbacks.best_checkpoint.filename=last"], "callbacks.last_checkpoint.filename='last': is callbacks.best"),
        (["+logger.csv.foo=1"], "logger.csv.foo is not a setting (what RunCSVLogger accepts)"),
        (["+logger.csv.flush_logs_every_n_steps=abc"], "logger.csv.flush_logs_every_n_steps='abc': give a whole"),
        (["+callbacks.extra._target_=collections.OrderedDict"], "is not a Lightning Callback class"),
        (["+logger.extra._target_=subprocess.Popen"], "is not a Lightning Logger class"),
        (
            ["callbacks.best_checkpoint.monitor=val/loss"],  # mode=max kept: the checkpoint of the highest loss
            "callbacks.best_checkpoint.mode='max': callbacks.best_checkpoint.monitor=val/loss improves as it goes "
            "down; set callbacks.best_checkpoint.mode=min",
        ),
        (
            ["callbacks=early_stopping", "callbacks.early_stopping.mode=min"],
            "callbacks.early_stopping.monitor=val/acc improves as it goes up",
        ),
    ],
)
def test_a_setting_wrong_alone_or_with_another_is_one_line(tmp_path, monkeypatch, overrides, expected):
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    cfg = compose_config("train", [*QUICK, "trainer.accelerator=cpu", *overrides], tmp_path / "run")
    assert expected in refused(ConfigError, check_train_settings, cfg)


@pytest.mark.parametrize(
    "overrides",
    [
        ["scheduler=multistep", "scheduler.milestones=[]"],  # torch's annotation of it names what it does not import
        ["+trainer.max_time=00:00:10:00", "+trainer.val_check_interval=0.5", "task_name=my-task.v2"],
    ],
)
def test_unusual_settings_that_mean_something_pass(tmp_path, overrides):
    check_train_settings(compose_config("train", [*QUICK, *overrides], tmp_path / "run"))


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["+trainer.val_check_interval=100"], "trainer.val_check_interval=100: more batches than an epoch has (2)"),
        (["+trainer.max_steps=1"], "trainer.max_steps=1: the run would end after 1 optimizer steps"),
        (
            ["callbacks=ema", "callbacks.ema.update_starting_at_step=100000"],
            "this run takes 2 optimizer steps, so the average would never be updated",
        ),
        (
            ["callbacks=ema", "callbacks.ema.update_every_n_steps=1000"],  # Lightning's EMA updates at step 0 only
            "callbacks.ema.update_every_n_steps=1000: this run takes 2 optimizer steps, so the average would be "
            "updated once, at step 0",
        ),
    ],
)
def test_what_counts_in_the_runs_batches_is_checked_against_the_data(tmp_path, overrides, expected):
    cfg = compose_config("train", [*QUICK, *overrides], tmp_path / "run")
    assert expected in refused(ConfigError, check_data_fits_run, build_datamodule(cfg.dataset), cfg)


def test_the_data_is_checked_against_the_model_and_its_own_statistics(tmp_path):
    cfg = compose_config("train", [*QUICK, "dataset.image_size=40"], tmp_path)  # LeNet-5 takes 32 px only
    net = create_model("lenet5", num_classes=10, in_chans=1)
    message = refused(ConfigError, check_input_fits, net, build_datamodule(cfg.dataset))
    assert message.startswith("dataset.image_size=40: lenet5 needs inputs of exactly 32x32 pixels")
    for stats, expected in [
        (["dataset.mean=[0.5]"], "dataset.mean is given without dataset.std"),  # it fell back to the dataset's own
        (["dataset.mean=[0.5,0.5,0.5]", "dataset.std=[0.2,0.2,0.2]"], "digits has 1 channel(s)"),
    ]:
        cfg = compose_config("train", [*QUICK, *stats], tmp_path)
        assert expected in refused(DataConfigError, build_datamodule, cfg.dataset)


def test_a_class_folder_of_which_no_image_can_be_read_is_refused(tmp_path):
    root = tmp_path / "images"
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (16, 16), (40 * i, 90, 200)).save(root / label / f"{i}.jpg")
    for jpeg in (root / "dog").iterdir():  # cut short: the header reads, the pixels do not
        jpeg.write_bytes(jpeg.read_bytes()[:200])
    overrides = [*QUICK, "dataset=imagefolder", f"dataset.root={root}", "dataset.val_fraction=0.34"]
    datamodule = build_datamodule(compose_config("train", overrides, tmp_path / "run").dataset)
    assert "dog: none of its 3 images can be read" in refused(DataConfigError, datamodule.setup, "fit")


@pytest.mark.parametrize(
    "overrides",
    [
        ["finetune.freeze=[backbone]", "trainer.max_epochs=3"],  # the strategy's groups frozen for the whole run
        ["finetune.unfreeze_at_epoch=100"],  # the thaw after the run
        ["finetune.strategy=milestones", "finetune.unfreeze_milestones=[]", "trainer.max_epochs=2"],
    ],
)
def test_a_gradual_unfreezing_that_thaws_nothing_is_refused(tmp_path, overrides):
    cfg = compose_config("train", [*QUICK, "finetune=gradual", "finetune.init_from=x", *overrides], tmp_path)
    net = create_model("lenet5", num_classes=10, in_chans=1)
    message = refused(ConfigError, check_something_trains, net, cfg.finetune, cfg.trainer.max_epochs)
    assert "but no group thaws in this run's" in message


def test_a_resume_continues_the_checkpoints_own_run(finished, tmp_path):
    ckpt = finished / "checkpoints" / "last.ckpt"
    for n, (overrides, expected) in enumerate(
        [
            (["optimizer=adam"], "optimizer._target_: torch.optim.SGD -> torch.optim.Adam"),
            (["optimizer.lr=0.5"], "optimizer.lr: 0.05 -> 0.5"),  # Lightning would restore 0.05 without a word
            (["finetune.freeze=[backbone]"], "finetune.freeze: [] -> ['backbone']"),
            (["trainer.max_epochs=1"], "has trained 1 epochs, as many as trainer.max_epochs=1 asks"),
        ]
    ):
        run = tmp_path / f"resume{n}"
        resume = [*QUICK, "threads=1", "trainer.max_epochs=2", f"ckpt_path={ckpt}", *overrides]
        with pytest.raises(SystemExit) as stopped:
            run_reporting_user_errors(train, compose_config("train", resume, run))
        assert expected in str(stopped.value.code)
        assert not (run / "config.yaml").exists()


def test_a_run_directory_is_refused_when_this_run_would_mix_with_what_it_holds(finished, tmp_path):
    base = [*QUICK, "threads=1"]
    copy = shutil.copytree(finished, tmp_path / "copy")
    before = snapshot(copy)
    for overrides, expected in [
        (["auto_resume=false"], "holds a finished run, and auto_resume=false would start it over there"),
        (["trainer.max_epochs=2"], "holds a finished run with other settings (trainer.max_epochs: 1 -> 2)"),
    ]:
        message = refused(
            ConfigError, RunDirectory(copy).check_can_hold, compose_config("train", base + overrides, copy)
        )
        assert expected in message
    assert "holds a training run (config.yaml)" in refused(ConfigError, RunDirectory(copy).check_can_hold_evaluation)
    assert snapshot(copy) == before
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    (evaluation / "metrics.json").write_text(json.dumps({"top1": 0.9, "split": "test"}))
    cfg = compose_config("train", base, evaluation)
    assert "holds metrics.json but no config.yaml" in refused(ConfigError, RunDirectory(evaluation).check_can_hold, cfg)
    assert "holds the results of an earlier evaluation" in refused(
        ConfigError, RunDirectory(evaluation).check_can_hold_evaluation
    )
    inside = refused(ConfigError, RunDirectory(copy / "checkpoints").check_can_hold_evaluation)
    assert f"is inside the training run {copy.resolve()}" in inside
    other_program = tmp_path / "other"
    other_program.mkdir()
    (other_program / "metrics.csv").write_text("a,b\n1,2\n")  # the CSV logger would append to it
    cfg = compose_config("train", base, other_program)
    message = refused(ConfigError, RunDirectory(other_program).check_can_hold, cfg)
    assert "holds metrics.csv but no config.yaml" in message


def test_a_run_whose_checkpoints_cannot_be_read_is_not_started_over(finished, tmp_path):
    copy = shutil.copytree(finished, tmp_path / "copy")
    for ckpt in (copy / "checkpoints").glob("*.ckpt"):
        ckpt.write_text('{"not": "a checkpoint"}')
    message = refused(ConfigError, checkpoint_to_resume, copy, copy / "checkpoints" / "last.ckpt")
    assert "cannot be read and no other checkpoint there can, so the run cannot resume" in message


def test_a_checkpoint_that_cannot_be_rebuilt_or_evaluated_is_refused(finished, tmp_path):
    raw = torch.load(finished / "checkpoints" / "last.ckpt", weights_only=True)
    for name, edit, expected in [
        ("unknown", lambda c: c["hyper_parameters"]["model"].update(name="lenet99"), "which this zoo does not have"),
        ("no_data", lambda c: c.pop("datamodule_hyper_parameters"), "lacks the dataset settings"),
    ]:
        edited = {**raw, "hyper_parameters": {**raw["hyper_parameters"], "model": {**raw["hyper_parameters"]["model"]}}}
        edit(edited)
        torch.save(edited, tmp_path / f"{name}.ckpt")
        assert expected in refused(WeightsError, load_training_checkpoint, tmp_path / f"{name}.ckpt")
    nan = {**raw, "state_dict": {k: v.float().fill_(float("nan")) for k, v in raw["state_dict"].items()}}
    assert "hold NaN or infinite values" in refused(WeightsError, load_module, nan, "nan.ckpt")


def test_the_validation_split_of_an_evaluation_is_the_one_the_model_was_trained_beside(finished, tmp_path):
    stored = torch.load(finished / "checkpoints" / "last.ckpt", weights_only=True)["datamodule_hyper_parameters"]
    for override in ({"split_seed": 7}, {"val_fraction": 0.5}):
        message = refused(ConfigError, evaluation_datamodule, stored, override, "val")
        assert "would hold images it trained on" in message
    evaluation_datamodule(stored, {"split_seed": 7}, "test")  # the test split does not depend on them
    cfg = compose_config("evaluate", ["ckpt_path=x", "trainer.limit_test_batches=0"], tmp_path)
    assert "would evaluate on nothing" in refused(ConfigError, check_evaluate_settings, cfg)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["ckpt_path=x", "model=resnet18"], "model=resnet18: picks the architecture of published weights"),
        (["ckpt_path=x", "images=y", "target_class=3"], "target_class=3: is the class Grad-CAM explains"),
        (["ckpt_path=x", "images=y", "visualize=[feature_maps]", "target_class=3"], "target_class=3: is the class"),
    ],
)
def test_an_evaluation_setting_that_would_be_ignored_is_refused(tmp_path, overrides, expected):
    cfg = compose_config("evaluate", overrides, tmp_path)
    assert refused(ConfigError, check_evaluate_settings, cfg).startswith(expected)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["-m", "optimizer.lr=range(0,0)"], "the sweep has no points"),
        (["-m", "optimizer.lr=interval(0.01,0.1)"], "Hydra's grid sweeper takes lists of values, not an interval"),
        (["--config-name=nosuch"], "--config-name=nosuch: no nosuch.yaml in"),
        (["--config-dir=/nonexistent"], "--config-dir=/nonexistent: no such folder"),
        (["+hydra.run.dirr=/tmp/x"], "hydra.run.dirr is not a Hydra setting; did you mean hydra.run.dir?"),
        (["logger=null"], "to leave a config group out, write ~group"),
    ],
)
def test_hydras_own_flags_keys_and_sweeps_are_one_line_before_anything_runs(argv, expected):
    with pytest.raises(SystemExit) as stopped:
        preflight("train", argv)
    message = str(stopped.value.code)
    assert message.startswith("error: ") and expected in message and "\n" not in message, message


def test_an_error_raised_in_a_dataloader_worker_is_its_own_message():
    try:
        raise DataConfigError("none of the 4 images of a batch could be read")
    except DataConfigError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(DataConfigError) as raised:
        wrapped.reraise()
    assert "Traceback" in str(raised.value)
    assert user_message(raised.value) == "none of the 4 images of a batch could be read"


def test_an_object_its_settings_cannot_build_is_one_line_naming_its_key():
    node = OmegaConf.create({"_target_": "lightning.Trainer", "strategy": "fsdp", "accelerator": "cpu"})
    message = refused(ConfigError, built, node, "trainer")
    assert message.startswith("trainer: ValueError: The strategy `fsdp` requires a GPU accelerator")


def test_a_module_summarised_under_another_precision_gets_an_example_in_its_dtype():
    model = {"name": "lenet5", "num_classes": 10, "in_chans": 1}
    module = ZooClassifier(model=model, optimizer={}, input_size=32).double()
    assert module.example_input_array.dtype == torch.float64 and module.example_input_array.shape == (1, 1, 32, 32)


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height and holds no pixels (a decompression bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IEND", b""))
    return path


def test_images_to_predict_are_read_as_the_data_layer_reads_them(tmp_path, capsys):
    bomb = png_claiming(tmp_path / "bomb.png", 30000, 30000)
    assert "no readable image among" in refused(ConfigError, read_images, [bomb])
    assert "a decompression bomb" in capsys.readouterr().out


def test_weights_of_another_kind_or_not_finite_are_not_loaded(tmp_path):
    own = create_model("lenet5", num_classes=10).state_dict()
    for name, change in [("int", lambda v: v.to(torch.int32)), ("nan", lambda v: torch.full_like(v, float("nan")))]:
        torch.save({k: change(v) for k, v in own.items()}, tmp_path / f"{name}.pth")
        message = refused(
            WeightsError, load_pretrained, create_model("lenet5", num_classes=10), tmp_path / f"{name}.pth"
        )
        assert "cannot be loaded into lenet5" in message and ("torch.int32" in message or "NaN" in message)


@pytest.mark.parametrize(
    "call, error, expected",
    [
        (lambda: create_model(None), TypeError, "name=None: expected a registered model name"),
        (lambda: list_models(None), TypeError, "pattern=None: expected a glob"),
        (lambda: create_model("lenet5")(torch.zeros(1, 1, 32, 32, dtype=torch.uint8)), TypeError, "expects normalised"),
        (
            lambda: DataConfig(input_size=(1, 0, 0), mean=(0.5,), std=(0.5,), resize_size=0),
            ValueError,
            "input_size[1]=0",
        ),
        (lambda: DataConfig((3, 32, 32), (0.5, 0.5), (0.5, 0.5), 32), ValueError, "one value per channel (3)"),
    ],
)
def test_the_librarys_arguments_are_checked_where_they_enter(call, error, expected):
    assert expected in refused(error, call)


def test_the_zoos_command_lines_refuse_paths_and_names_before_writing(finished, tmp_path):
    (tmp_path / "folder").mkdir()
    assert output_refusal(tmp_path / "folder", overwrite=True) == "is a folder; name a file inside it"
    assert "in a folder that does not exist" in output_refusal(tmp_path / "no" / "x.pt", overwrite=False)
    ckpt = finished / "checkpoints" / "last.ckpt"
    for tag in ("../evil", ""):
        message = refused(WeightsError, lambda tag=tag: publish(ckpt, tag, None, "r", out_dir=tmp_path))
        assert "a tag is a name of letters" in message
    assert "is not a metrics.json of evaluate.py" in refused(
        WeightsError, accuracy_from_metrics, finished / "metrics.json"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "folder"]


def test_a_summary_of_any_input_size_costs_no_memory(capsys):
    assert zoo.summary.main(["resnet18", "--input-size", "3", "20000", "20000"]) == 0
    assert "Total MACs: 14,457,600,512,000" in capsys.readouterr().out

"""Hostile arguments to the library and its command lines (``python -m zoo.export``, ``python -m zoo.publish_weights``):
each is a TypeError/ValueError naming the argument, or one ``error:`` line, and nothing written is lost. In-process and
fast: the checkpoint is written as train.py writes one (its model and data hyper-parameters), without a training run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import zoo.export
import zoo.publish_weights
from zoo import count_parameters, create_model, create_transform, list_models, list_pretrained, split_output
from zoo.data_config import resolve_data_config
from zoo.registry import is_rate, model_arguments
from zoo.weights import load_pretrained


def _arguments_of_kind(kind) -> list:
    return [(name, argument) for name in list_models() for argument, p in model_arguments(name).items() if kind(p)]


BOOLEANS = _arguments_of_kind(lambda p: p.annotation is bool)
RATES = _arguments_of_kind(lambda p: is_rate(p.name, p.annotation))


@pytest.fixture
def lenet5_ckpt(tmp_path) -> Path:
    """What train.py's default run writes: LeNet-5 on digits, with the model's and the data's hyper-parameters."""
    path = tmp_path / "last.ckpt"
    model = create_model("lenet5", num_classes=10)
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {
                "model": {"name": "lenet5", "num_classes": 10, "in_chans": 1, "kwargs": {"output": "linear"}},
                "class_names": [str(i) for i in range(10)],
            },
            "datamodule_hyper_parameters": {"name": "digits", "image_size": 32, "mean": [0.1307], "std": [0.3081]},
        },
        path,
    )
    return path


def one_error_line(capsys) -> str:
    """The one ``error:`` line (after argparse's usage lines, where ``parser.error`` ends the command)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error: " in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


# ----- create_model: every boolean argument a bool, every drop rate in [0, 1], no argument the model lacks -----
@pytest.mark.parametrize("name, argument", [("resnet18", "features_only"), *BOOLEANS])
def test_boolean_arguments_of_create_model_refuse_text(name, argument):
    with pytest.raises(TypeError, match=f"{argument}='no': expected True or False, got str"):
        create_model(name, **{argument: "no"})


@pytest.mark.parametrize("name, argument", RATES)
def test_rate_arguments_are_checked_where_create_model_receives_them(name, argument):
    with pytest.raises(ValueError, match=rf"{argument}=1.5: a rate is the share of units dropped .* in \[0, 1\]"):
        create_model(name, **{argument: 1.5})
    with pytest.raises(TypeError, match=f"{argument}='a': expected a rate between 0 and 1"):
        create_model(name, **{argument: "a"})


def test_every_float_argument_of_a_model_is_a_checked_rate():
    floats = _arguments_of_kind(lambda p: p.annotation is float)
    assert RATES and floats == RATES, "a float model argument that is no drop rate needs a check of its own"


def test_an_argument_the_model_does_not_take_is_named():
    with pytest.raises(TypeError, match="output='rbf': resnet18 takes no such argument; its own are: zero_init_res"):
        create_model("resnet18", output="rbf")


# ----- the other public functions: a wrong kind of argument is a TypeError naming it -----
def test_public_functions_name_an_argument_of_the_wrong_kind():
    model = create_model("lenet5")
    cases = [
        (
            lambda: load_pretrained(model, 42),
            "source=42: expected a weights file's path, or a checkpoint or state_dict",
        ),
        (lambda: load_pretrained(model, {}, allow_partial="yes"), "allow_partial='yes': expected True or False"),
        (lambda: load_pretrained("lenet5", {}), "model='lenet5': expected a zoo model"),
        (lambda: create_transform("resnet18"), r"config='resnet18': expected a DataConfig: pass zoo.resolve_data_conf"),
        (lambda: create_transform(model), r"config=<LeNet5>: expected a DataConfig"),
        (lambda: create_transform(resolve_data_config(model), training="yes"), "training='yes': expected True or"),
        (lambda: count_parameters("resnet18"), "model='resnet18': expected a model"),
        (lambda: split_output([1]), r"output=\[1\]: expected a zoo model's output"),
        (lambda: list_pretrained(3), "pattern=3: expected a glob"),
    ]
    for call, message in cases:
        with pytest.raises(TypeError, match=message):
            call()


# ----- python -m zoo.export -----
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs a folder no file can be created in")
def test_export_to_a_folder_that_cannot_be_written_is_one_error_line(capsys):
    assert zoo.export.main(["lenet5", "--format", "torchscript", "--output", "/proc/lenet5.pt"]) == 2
    assert one_error_line(capsys) == "error: cannot write --output /proc/lenet5.pt: No such file or directory"


def test_export_never_overwrites_its_checkpoint(lenet5_ckpt, tmp_path, capsys):
    before = lenet5_ckpt.read_bytes()
    (tmp_path / "link.ckpt").symlink_to(lenet5_ckpt)
    for output in (lenet5_ckpt, tmp_path / "link.ckpt", tmp_path / ".." / tmp_path.name / "last.ckpt"):
        args = ["lenet5", "--format", "torchscript", "--checkpoint", str(lenet5_ckpt), "--output", str(output)]
        assert zoo.export.main([*args, "--overwrite"]) == 2
        assert f"is the --checkpoint {lenet5_ckpt} being exported (an input is never overwritten)" in one_error_line(
            capsys
        )
    assert lenet5_ckpt.read_bytes() == before


def test_a_failed_export_keeps_the_file_it_would_replace(tmp_path, monkeypatch):
    out = tmp_path / "lenet5.pt"
    out.write_bytes(b"old")

    def differs(*args):
        raise AssertionError("does not reproduce PyTorch's output")

    monkeypatch.setattr(zoo.export, "check", differs)
    with pytest.raises(AssertionError):
        zoo.export.main(["lenet5", "--format", "torchscript", "--output", str(out), "--overwrite"])
    assert out.read_bytes() == b"old" and os.listdir(tmp_path) == ["lenet5.pt"]  # no partial file left


# ----- python -m zoo.publish_weights -----
def publish_error(capsys, ckpt: Path, *args: str, out_dir: Path) -> str:
    with pytest.raises(SystemExit) as exited:
        zoo.publish_weights.main([str(ckpt), "--tag", "t1", "--recipe", "r", *args, "--out-dir", str(out_dir)])
    assert exited.value.code == 2 and not out_dir.exists()  # nothing written
    return one_error_line(capsys)


def test_publish_names_a_metrics_file_that_is_not_evaluates(lenet5_ckpt, tmp_path, capsys):
    (tmp_path / "text.txt").write_text("hello\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "words.json").write_text('{"top1": "high", "split": "test", "num_samples": 3}')
    out = tmp_path / "w"
    err = publish_error(capsys, lenet5_ckpt, "--metrics", str(tmp_path / "text.txt"), out_dir=out)
    assert f"--metrics {tmp_path / 'text.txt'} is not JSON" in err and "metrics.json evaluate.py" in err
    for name in ("list.json", "words.json"):
        err = publish_error(capsys, lenet5_ckpt, "--metrics", str(tmp_path / name), out_dir=out)
        assert f"--metrics {tmp_path / name} is not a metrics.json of evaluate.py" in err


def test_publish_refuses_an_architecture_other_than_the_checkpoints(lenet5_ckpt, tmp_path, capsys):
    err = publish_error(capsys, lenet5_ckpt, "--architecture", "resnet18", out_dir=tmp_path / "w")
    assert "architecture='resnet18' (--architecture) does not fit checkpoint=" in err
    assert "its model is lenet5 (hyper_parameters.model.name)" in err


@pytest.mark.parametrize("recipe", ["", "  "])
def test_publish_refuses_an_empty_recipe(lenet5_ckpt, tmp_path, capsys, recipe):
    with pytest.raises(SystemExit):
        zoo.publish_weights.main([str(lenet5_ckpt), "--tag", "t1", "--recipe", recipe, "--out-dir", str(tmp_path)])
    assert f"recipe={recipe!r} (--recipe): give the exact commands" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == [lenet5_ckpt]


def test_publish_refuses_a_dataset_other_than_the_checkpoints_or_unknown(lenet5_ckpt, tmp_path, capsys):
    err = publish_error(capsys, lenet5_ckpt, "--dataset", "cifar11", out_dir=tmp_path / "w")
    assert "dataset='cifar11' (--dataset): checkpoint=" in err and "was trained on digits" in err
    state_dict = tmp_path / "weights.pth"
    torch.save(create_model("lenet5").state_dict(), state_dict)
    err = publish_error(capsys, state_dict, "--architecture", "lenet5", "--dataset", "cifar11", out_dir=tmp_path / "w")
    assert "dataset='cifar11' (--dataset) is not a dataset the zoo knows" in err and "'digits'" in err

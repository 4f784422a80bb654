"""Hostile command lines and sweeps: each mistake is one ``error:`` line from ``preflight`` before Hydra writes
anything, and a sweep's summary never shows one point's results under another's settings. In-process and fast:
``preflight`` only composes; the sweep folders are written here as Hydra and train.py leave them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from zootrain.cli import CONFIG_DIR, preflight
from zootrain.sweep import SweepSummary

SWEEP = ["-m", "seed=1,2"]


def refused(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        preflight("train", argv)
    message = str(stopped.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def test_a_group_chosen_twice_or_a_swept_key_given_again_is_refused_naming_both():
    message = refused(["model=lenet5", "model=resnet18"])
    assert "model is given twice (model=lenet5 and model=resnet18): give it once" in message
    assert "seed is given twice" in refused([*SWEEP, "seed=3"])


def test_a_value_given_again_is_the_last_one_with_a_notice(capsys):
    """Appending overrides to a command (a script shortening a run) is Hydra's rule, said rather than silent."""
    preflight("train", ["trainer.max_epochs=4", "trainer.max_epochs=1"])
    notice = "notice: trainer.max_epochs is given twice (trainer.max_epochs=4 and trainer.max_epochs=1); the last"
    assert notice in capsys.readouterr().err


@pytest.mark.parametrize(
    "removed, expected",
    [
        (
            "~trainer",
            "~trainer: train.py cannot leave out trainer, it needs it; choose another trainer=<option> or set",
        ),
        ("~optimizer", "cannot leave out optimizer"),
        ("~seed", "~seed: train.py cannot leave out seed, it needs it; set seed=... instead"),
        ("~trainer.max_epochs", "cannot leave out trainer.max_epochs"),
    ],
)
def test_leaving_out_a_setting_the_run_needs_is_one_line_saying_what_to_set(removed, expected):
    assert expected in refused([removed])


def test_callbacks_and_loggers_can_still_be_left_out(tmp_path):
    assert preflight("train", ["~callbacks.learning_rate_monitor", f"paths.log_dir={tmp_path}"]) is None


def test_a_malformed_yaml_file_is_one_line_naming_the_file_and_the_place(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "broken.yaml").write_text("name: lenet5\na: b: c\n")
    message = refused(["--config-dir", str(tmp_path), "model=broken"])
    assert f"{tmp_path / 'model' / 'broken.yaml'}, line 2, column 5: not valid YAML" in message
    assert "mapping values are not allowed here" in message


def test_a_setting_of_the_other_mode_is_refused_not_ignored(tmp_path):
    message = refused([*SWEEP, f"hydra.run.dir={tmp_path}"])
    assert "a sweep (-m) writes to hydra.sweep.dir, not hydra.run.dir" in message
    message = refused([f"hydra.sweep.dir={tmp_path}"])
    assert f"hydra.sweep.dir={tmp_path}: only a sweep (-m) reads hydra.sweep.dir" in message


@pytest.mark.parametrize("subdir", ["same", "${now:%Y}", "${optimizer.lr}", "."])
def test_sweep_points_sharing_a_folder_are_refused_before_the_sweep(tmp_path, subdir):
    message = refused([*SWEEP, f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.sweep.subdir={subdir}"])
    assert "the sweep points seed=1 and seed=2 would both write to" in message
    assert "each point needs its own folder" in message
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(
    "subdir", ["${hydra.job.num}", "run_${hydra:job.num}", "${seed}", "${hydra.job.override_dirname}"]
)
def test_sweep_points_with_folders_of_their_own_pass(tmp_path, subdir):
    sweep = tmp_path / "sweep"
    assert preflight("train", [*SWEEP, f"hydra.sweep.dir={sweep}", f"hydra.sweep.subdir={subdir}"]) == sweep


@pytest.mark.parametrize("left", ["config.yaml", "metrics.json", "checkpoints"])
def test_a_sweep_into_a_training_runs_folder_is_refused(tmp_path, left):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True) if left == "checkpoints" else (run.mkdir(), (run / left).write_text(""))
    message = refused([*SWEEP, f"hydra.sweep.dir={run}"])
    assert f"hydra.sweep.dir={run} is the folder of a run ({left} in {run}); nothing was changed there" in message
    (run / "config.yaml").write_text("")
    (run / "checkpoints").mkdir(exist_ok=True)
    assert "is inside a run" in refused([*SWEEP, f"hydra.sweep.dir={run / 'sweeps'}"])


def earlier_sweep(sweep: Path, task: list[str]) -> None:
    """The multirun.yaml Hydra leaves in a sweep's folder: the full config, with the sweep's command line."""
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose("train", overrides=[f"hydra.sweep.dir={sweep}"], return_hydra_config=True)
    cfg.hydra.overrides.hydra = [f"hydra.sweep.dir={sweep}", "hydra.mode=MULTIRUN"]
    cfg.hydra.overrides.task = task
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(OmegaConf.to_yaml(cfg))


def test_a_sweep_folder_holding_another_sweep_is_refused_and_the_same_sweep_resumes(tmp_path):
    sweep = tmp_path / "sweep"
    earlier_sweep(sweep, ["seed=1,2", "sweep_name=a"])
    message = refused([*SWEEP, f"hydra.sweep.dir={sweep}", "optimizer.lr=0.02"])
    assert (
        f"{sweep} holds an earlier sweep with other settings (that one: none; this one: optimizer.lr=0.02)" in message
    )
    assert "another sweep_name=... or hydra.sweep.dir=...) or delete that one" in message
    assert preflight("train", [*SWEEP, f"hydra.sweep.dir={sweep}", "sweep_name=b"]) == sweep  # names no setting


def test_the_summary_never_shows_one_points_results_under_anothers_settings(tmp_path):
    for name, ran, started in (("shared", 1, 2), ("own", 3, 3)):
        job = tmp_path / name
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- seed={started}\n")
        (job / ".hydra" / "config.yaml").write_text(
            f"seed: {started}\npaths:\n  output_dir: ${{hydra:runtime.output_dir}}\n"
        )
        (job / "config.yaml").write_text(f"seed: {ran}\npaths:\n  output_dir: {job}\n")
        (job / "metrics.json").write_text(json.dumps({"val/acc": 0.9 if name == "shared" else 0.5}))
    SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    summary = json.loads((tmp_path / "sweep_summary.json").read_text())
    shared, own = summary["points"][1], summary["points"][0]
    assert shared["status"] == "mixed" and shared["val/acc"] is None
    assert shared["reason"] == "the folder holds another run's results (seed: 1 -> 2)"
    assert own["status"] == "completed" and summary["best"]["overrides"] == ["seed=3"]

"""Smoke tests of benchmarks/: every script runs end to end at its smallest size and writes its figures as JSON.

Each runs as a subprocess (as a user runs it), on the CPU with one thread, with PROJECT_ROOT in tmp_path so data
caches and results stay out of the checkout. Timings are only checked to be finite numbers, never compared.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zootrain.data import CIFAR10_CLASSES, ZIP_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"
SMOKE_TESTED = {
    "bad_inputs.py",
    "busy_machine.py",
    "cpu_fast_path.py",
    "default_run.py",
    "finetune_value.py",
    "data_path.py",
    "lightning_overhead.py",
    "recipe_accuracy.py",
    "time_to_accuracy.py",
    "zoo_vs_torchvision.py",
}
STEP_FIGURES = ("images_per_s", "median_step_s", "mean_step_s", "min_step_s", "max_step_s")
CIFAR_PER_CLASS = 10  # 100 images: 90 to train on, 10 held out for validation


def run_benchmark(script: str, tmp_path: Path, *args: str) -> dict:
    """Run ``benchmarks/<script> --threads 1 --json ... *args``; its JSON payload."""
    out = tmp_path / "results" / f"{Path(script).stem}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROJECT_ROOT": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--threads", "1", "--json", str(out), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stderr
    payload = json.loads(out.read_text())
    assert payload["script"] == Path(script).stem
    assert payload["environment"]["torch_threads"] == 1
    return payload


def assert_finite(record: dict, *keys: str) -> None:
    for key in keys:
        value = record[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{key}: {value!r}"
        assert math.isfinite(value), f"{key}: {value!r}"


def assert_positive_times(values: list, count: int) -> None:
    assert len(values) == count
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in values), values


@pytest.fixture(scope="module")
def few_cifar_images(tmp_path_factory) -> Path:
    """A folder laid out cifar10/train/<class>/*.jpg holding the first images of each class of the shared zip."""
    source = os.environ.get(ZIP_ENV)
    if not source:
        pytest.skip(f"${ZIP_ENV} (the CIFAR-10 JPEG zip) is not set")
    folder = tmp_path_factory.mktemp("cifar10-few")
    with zipfile.ZipFile(source) as archive:
        for name in CIFAR10_CLASSES:
            for i in range(CIFAR_PER_CLASS):
                archive.extract(f"cifar10/train/{name}/{i:04d}.jpg", folder)
    return folder


def test_every_benchmark_script_has_a_smoke_test():
    scripts = {p.name for p in BENCHMARKS.glob("*.py")} - {"common.py"}
    assert scripts == SMOKE_TESTED


def test_zoo_vs_torchvision_reports_both_sides(tmp_path):
    payload = run_benchmark(
        "zoo_vs_torchvision.py",
        tmp_path,
        "--device",
        "cpu",
        "--models",
        "resnet18",
        "--batch-size",
        "2",
        "--image-size",
        "32",
        "--warmup",
        "1",
        "--steps",
        "2",
    )
    [result] = payload["results"]
    assert [result[k] for k in ("model", "setting", "batch_size", "image_size")] == ["resnet18", "fp32", 2, 32]
    for side in ("zoo", "torchvision"):
        assert_finite(result[side], *STEP_FIGURES)
        assert_positive_times(result[side]["step_times_s"], 2)
        assert result[side]["peak_memory_mib"] is None  # CUDA only
    assert result["zoo"]["params"] == result["torchvision"]["params"] == 11_689_512
    assert_finite(result, "ratio_zoo_over_torchvision")
    assert result["ratio_zoo_over_torchvision"] == pytest.approx(
        result["zoo"]["images_per_s"] / result["torchvision"]["images_per_s"]
    )


def test_lightning_overhead_reports_bare_and_lightning_loops(tmp_path):
    payload = run_benchmark(
        "lightning_overhead.py",
        tmp_path,
        "--device",
        "cpu",
        "--models",
        "lenet5",
        "--batch-size",
        "4",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--rounds",
        "2",
    )
    [result] = payload["results"]
    assert (result["model"], result["rounds"], result["image_size"]) == ("lenet5", 2, 32)
    for loop in ("bare", "lightning"):
        assert_finite(result[loop], *STEP_FIGURES)
        assert_positive_times(result[loop]["step_times_s"], 2 * 2)  # rounds x steps
    assert_finite(result, "overhead", "overhead_mean")
    assert result["overhead"] == pytest.approx(result["lightning"]["median_step_s"] / result["bare"]["median_step_s"])


def test_data_path_reports_every_side_on_a_few_cifar_images(tmp_path, few_cifar_images):
    payload = run_benchmark(
        "data_path.py",
        tmp_path,
        "--device",
        "cpu",
        "--zip-path",
        str(few_cifar_images),
        "--batch-size",
        "4",
        "--warmup",
        "1",
        "--batches",
        "2",
        "--rounds",
        "2",
        "--workers",
        "1",
    )
    *sides, summary = payload["results"]
    assert [s["side"] for s in sides] == ["gpu_resident", "dataloader_w0", "dataloader_w1"]
    for side in sides:
        assert_finite(side, "images_per_s", "first_batch_s", "ratio_gpu_resident")
        assert_positive_times(side["round_images_per_s"], 2)
        assert side["train_images"] == 90  # the folder's 100 less the 10 held out for validation
    assert sides[0]["ratio_gpu_resident"] == 1.0
    assert summary["best_dataloader"] in ("dataloader_w0", "dataloader_w1")
    assert_finite(summary, "ratio_vs_best_dataloader", "target")
    assert summary["meets_target"] is None  # the target is a GPU's
    assert list((tmp_path / "data" / ".cache").glob("cifar10-train-*.pt"))  # decoded under PROJECT_ROOT


@pytest.mark.parametrize("preset", ["digits", "cifar10", "cifar10_cpu"])
def test_time_to_accuracy_reports_the_time_to_target(tmp_path, preset, request):
    dataset = "digits" if preset == "digits" else "cifar10"
    cifar = (
        [
            "--override",
            f"dataset.zip_path={request.getfixturevalue('few_cifar_images')}",
            "--override",
            "dataset.batch_size=4",
        ]
        if dataset == "cifar10"
        else []
    )
    cifar += ["--override", "model=lenet5_modern"] if preset == "cifar10" else []
    payload = run_benchmark(
        "time_to_accuracy.py",
        tmp_path,
        "--preset",
        preset,
        "--target",
        "0",
        "--max-epochs",
        "1",
        "--seeds",
        "2",
        "--output-dir",
        str(tmp_path / "runs"),
        *cifar,
        "--override",
        "trainer.limit_train_batches=2",
        "--override",
        "trainer.limit_val_batches=1",
    )
    *runs, last = payload["results"]
    assert [r["seed"] for r in runs] == [42, 43]
    for run in runs:
        assert run["dataset"] == dataset and run["device"] == "cpu" and run["reached"]
        assert_finite(
            run, "time_to_target_s", "wall_to_target_s", "setup_s", "start_s", "training_s", "total_s", "final_val_acc"
        )
        assert run["wall_to_target_s"] > run["time_to_target_s"]  # set-up and start included
        assert 0 <= run["final_val_acc"] <= 1 and run["epochs_to_target"] == run["epochs_run"] == 1
        [validation] = run["trace"]
        assert validation["step"] == 2
        assert_finite(validation, "elapsed_s", "val_acc", "val_loss")
    summary = last["summary"]
    assert summary["runs"] == summary["runs_reaching_target"] == 2
    assert_finite(summary["time_to_target_s"], "mean", "std")
    assert (tmp_path / "runs" / f"{preset}-seed43").is_dir()


def test_cpu_fast_path_times_every_setting_and_derives_the_policy(tmp_path):
    payload = run_benchmark(
        "cpu_fast_path.py", tmp_path, "--families", "lenet", "--batch-size", "2", "--warmup", "0", "--steps", "1",
        "--rounds", "2", "--margin", "1e9",
    )  # fmt: skip
    [result] = payload["results"]
    assert (result["family"], result["model"], result["image_size"]) == ("lenet", "lenet5", 32)
    assert set(result["settings"]) == {"fp32", "fp32+cl", "bf16", "bf16+cl"}
    for stats in result["settings"].values():
        assert_finite(stats, *STEP_FIGURES)
    assert result["speedup"]["fp32"] == 1.0
    assert result["fastest"] == "fp32"  # nothing is 1e9 times faster


def test_cpu_fast_path_accuracy_trains_both_sides_on_the_digits(tmp_path):
    payload = run_benchmark(
        "cpu_fast_path.py", tmp_path, "--accuracy", "--families", "lenet", "--seeds", "2", "--epochs", "1"
    )
    [result] = payload["results"]
    assert (result["family"], result["model"], result["epochs"]) == ("lenet", "lenet5", 1)
    for side in ("fp32", "bf16+cl"):
        assert len(result[side]["val_acc"]) == 2 and all(0 <= a <= 1 for a in result[side]["val_acc"])
    assert isinstance(result["keeps_accuracy"], bool)


def test_default_run_times_train_py_against_a_bare_script(tmp_path):
    payload = run_benchmark("default_run.py", tmp_path, "--rounds", "1", "--epochs", "1")
    [summary] = payload["results"]
    for side in ("train.py", "bare"):
        assert_finite(summary[side], "median_wall_s", "min_val_acc")
        assert 0 <= summary[side]["min_val_acc"] <= 1 and len(summary[side]["runs"]) == 1
    assert summary["ratio"] == pytest.approx(summary["train.py"]["median_wall_s"] / summary["bare"]["median_wall_s"])


def test_recipe_accuracy_finishes_a_run_in_two_pieces(tmp_path, few_cifar_images):
    run_dir = tmp_path / "run"
    overrides = ["trainer.max_epochs=2", f"dataset.zip_path={few_cifar_images}", "dataset.batch_size=8"]
    args = ["--experiment", "cifar10_resnet20", "--run-dir", str(run_dir), *(f"--override={o}" for o in overrides)]
    kill = [f"--override=+callbacks.kill.{k}" for k in ("_target_=fault_injection.KillAt", "epoch=1", "batch=0")]
    # as run_benchmark runs it (same PROJECT_ROOT and threads), or the restart would be refused as other settings
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests"), "OMP_NUM_THREADS": "1", "PROJECT_ROOT": str(tmp_path)}
    interrupted = subprocess.run(
        [sys.executable, str(BENCHMARKS / "recipe_accuracy.py"), "--threads", "1", *args, *kill],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert interrupted.returncode != 0 and "run the same command again" in interrupted.stderr
    payload = run_benchmark("recipe_accuracy.py", tmp_path, *args)  # the same run, resumed
    [result] = payload["results"]
    assert (result["experiment"], result["model"], result["epochs"]) == ("cifar10_resnet20", "resnet20", 2)
    assert [point["epoch"] for point in result["curve"]] == [1, 2]
    assert result["final_val_acc"] == result["curve"][-1]["val_acc"]
    assert [p["returncode"] for p in result["pieces"]] == [-9, 0]


def test_finetune_value_compares_both_arms_from_one_pretrained_run(tmp_path, few_cifar_images):
    overrides = [f"dataset.zip_path={few_cifar_images}", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1"]
    overrides.append("dataset.samples_per_class=5")
    work = tmp_path / "runs"
    args = ["--seeds", "1", "2", "--work-dir", str(work), *(f"--override={o}" for o in overrides)]
    [result] = run_benchmark("finetune_value.py", tmp_path, *args)["results"]
    assert result["pretrain"]["experiment"] == "cifar10_pretrain_0to4"
    pretrained = str((work / "pretrain" / "checkpoints" / "last.ckpt").resolve())
    for arm in ("scratch", "finetuned"):
        accuracies = [run["val_acc"] for run in result[arm]["runs"]]
        assert len(accuracies) == 2 and result[arm]["mean"] == pytest.approx(sum(accuracies) / 2)
        assert all(
            ("finetune.init_from=" + pretrained in run["command"]) == (arm == "finetuned")
            for run in result[arm]["runs"]
        )


def test_bad_inputs_audit_classifies_a_row(tmp_path):
    out = tmp_path / "audit.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bad_inputs.py"),
            "--checkout",
            str(REPO_ROOT),
            "--out",
            str(out),
            "--rows",
            "38",
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    audit = json.loads(out.read_text())
    assert [(r["row"], r["outcome"]) for r in audit["rows"]] == [(38, "clear")]
    assert audit["counts"] == {"clear": 1}


def _spinner_processes() -> list[str]:
    sys.path.insert(0, str(BENCHMARKS))
    from busy_machine import SPIN

    return [p.name for p in Path("/proc").glob("[0-9]*") if SPIN.encode() in _cmdline(p)]


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


def test_busy_machine_pairs_the_default_with_one_thread_under_its_own_load(tmp_path):
    limits = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    args = ["--pairs", "1", "--spinners", "1", "--conditions", "synthetic_load"]
    payload = run_benchmark("busy_machine.py", tmp_path, *args, *(a for o in limits for a in ("--override", o)))
    (result,) = payload["results"]
    assert result["condition"] == "synthetic_load" and result["spinners"] == 1
    assert result["fixed_threads"] == 1 and len(result["runs"]["auto"]) == len(result["runs"]["fixed"]) == 1
    assert_finite(result, "median_ratio", "auto_median_wall_s", "fixed_median_wall_s")
    assert _spinner_processes() == []  # the load it started is stopped

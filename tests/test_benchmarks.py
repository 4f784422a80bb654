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

pytestmark = pytest.mark.integration  # each runs a benchmark script whole, in a subprocess

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"
SMOKE_TESTED = {
    "bad_inputs.py",
    "busy_machine.py",
    "cpu_fast_path.py",
    "default_run.py",
    "feature_accuracy.py",
    "finetune_value.py",
    "jpeg_quality.py",
    "data_path.py",
    "lightning_overhead.py",
    "recipe_accuracy.py",
    "resnet_cifar_paper.py",
    "test_suite.py",
    "time_to_accuracy.py",
    "yardstick_resnet20.py",
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


@pytest.fixture(scope="module")
def fake_cifar_zip(tmp_path_factory) -> Path:
    """A zip laid out cifar10/train/<class>/NNNN.jpg of ``CIFAR_PER_CLASS`` random 32x32 JPEGs per class (quality
    75, 4:2:0), members in a shuffled order as a zip need not be sorted."""
    import io
    import random

    from PIL import Image

    path = tmp_path_factory.mktemp("fake-cifar") / "fake-cifar10.zip"
    rng = random.Random(0)
    names = [f"cifar10/train/{c}/{i:04d}.jpg" for c in CIFAR10_CLASSES for i in range(CIFAR_PER_CLASS)]
    rng.shuffle(names)
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            image = Image.frombytes("RGB", (32, 32), rng.randbytes(32 * 32 * 3))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=75, subsampling=2)
            archive.writestr(name, buffer.getvalue())
    return path


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


def test_test_suite_times_a_selection_and_keeps_pytests_counts(tmp_path):
    out = tmp_path / "suite.json"
    argv = [
        "--selections",
        "default",
        "--json",
        str(out),
        "--",
        "tests/test_arguments.py::test_reset_classifier_names_an_unknown_global_pool",
    ]
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "test_suite.py"), *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result] = json.loads(out.read_text())["results"]
    assert result["counts"]["passed"] >= 1 and "failed" not in result["counts"]
    assert 0 < result["pytest_s"] <= result["wall_s"]


def run_yardstick(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    """The yardstick run as a script in a process that then lists the project modules it imported (none allowed)."""
    out = tmp_path / "results" / "yardstick_resnet20.json"
    argv = [str(BENCHMARKS / "yardstick_resnet20.py"), "--threads", "1", "--json", str(out), *args]
    code = (
        "import runpy, sys\n"
        f"sys.argv = {argv!r}\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "print('project modules:', sorted(m for m in sys.modules if m.split('.')[0] in ('zoo', 'zootrain')))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROJECT_ROOT": str(tmp_path)}
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "project modules: []" in proc.stdout
    return proc, json.loads(out.read_text())


def test_yardstick_trains_resumes_exactly_and_imports_no_project_code(tmp_path, fake_cifar_zip):
    common = ["--zip-path", str(fake_cifar_zip), "--batch-size", "32", "--epochs", "2"]
    _, whole = run_yardstick(tmp_path / "whole", *common, "--run-dir", str(tmp_path / "whole" / "run"))
    pieces = tmp_path / "pieces"
    first, part = run_yardstick(pieces, *common, "--run-dir", str(pieces / "run"), "--until-epoch", "1")
    assert "run the same command to continue" in first.stdout and not part["results"][0]["finished"]
    second, resumed = run_yardstick(pieces, *common, "--run-dir", str(pieces / "run"))
    assert "resumed from" in second.stdout
    assert resumed["script"] == "yardstick_resnet20" and resumed["environment"]["torch_threads"] == 1
    [a], [b] = whole["results"], resumed["results"]
    assert a["finished"] and (a["train_images"], a["val_images"], a["steps_per_epoch"]) == (90, 10, 2)
    assert a["parameters"] == 269_722  # the paper's "0.27M", as the project's resnet20
    assert [r["epoch"] for r in b["curve"]] == [1, 2]
    for key in ("train_loss", "train_error", "val_loss", "val_error", "lr", "iterations"):
        assert [r[key] for r in a["curve"]] == [r[key] for r in b["curve"]], key  # bit-identical resumption
    # 4 steps, /10 from step 2 (50 %) and step 3 (75 %): each epoch's last step ran at 0.1, then 0.001
    assert [r["lr"] for r in a["curve"]] == [pytest.approx(0.1), pytest.approx(0.001)]
    import torch

    state_a = torch.load(tmp_path / "whole" / "run" / "last.pt", weights_only=False)["model"]
    state_b = torch.load(pieces / "run" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_yardstick_split_is_the_projects_split(tmp_path, monkeypatch, make_cfg):
    """The yardstick's 45k/5k hold-out equals the one ``train.py experiment=cifar10_resnet20`` trains on, index for
    index, through the project's own path (zip listing, labels, datamodule split); decoding is stubbed out."""
    source = os.environ.get(ZIP_ENV)
    if not source:
        pytest.skip(f"${ZIP_ENV} (the CIFAR-10 JPEG zip) is not set")
    import torch

    import zootrain.data.cifar_jpeg as cifar_jpeg
    from zootrain.run import build_datamodule

    sys.path.insert(0, str(BENCHMARKS))
    from yardstick_resnet20 import members, split_indices

    from zootrain.data.splits import Split

    def blank(names: list[str], blobs: list[bytes], desc: str) -> torch.Tensor:  # no decoding: one blank image
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8).expand(len(blobs), -1, -1, -1)

    def subset(self: Split, index: torch.Tensor) -> Split:  # labels only, and the indices it was cut by
        part = Split(self.labels[index])
        part.index = index
        return part

    monkeypatch.setattr(cifar_jpeg, "decode_images", blank)
    monkeypatch.setattr(cifar_jpeg, "check_sizes", lambda names, blobs: None)
    monkeypatch.setattr(Split, "subset", subset)
    cfg = make_cfg("experiment=cifar10_resnet20", f"dataset.zip_path={source}")
    datamodule = build_datamodule(cfg.dataset)
    datamodule.setup("fit")
    project_train, project_val = datamodule.splits["train"].index, datamodule.splits["val"].index
    names, labels = members(Path(source))
    train_idx, val_idx = split_indices(labels, cfg.dataset.val_fraction, cfg.dataset.split_seed)
    assert torch.equal(project_train, train_idx) and torch.equal(project_val, val_idx)
    assert torch.equal(datamodule.splits["train"].labels, torch.tensor(labels)[train_idx])


def test_yardstick_decodes_the_pixels_the_project_decodes():
    """PIL (the yardstick) and torchvision's decode_image (the project) give the same pixels for the zip's JPEGs."""
    source = os.environ.get(ZIP_ENV)
    if not source:
        pytest.skip(f"${ZIP_ENV} (the CIFAR-10 JPEG zip) is not set")
    import torch
    from torchvision.io import ImageReadMode, decode_image

    sys.path.insert(0, str(BENCHMARKS))
    from yardstick_resnet20 import decode

    names = [f"cifar10/train/{c}/{i:04d}.jpg" for c in CIFAR10_CLASSES for i in range(0, 50, 10)]
    with zipfile.ZipFile(source) as archive:
        blobs = [torch.frombuffer(bytearray(archive.read(n)), dtype=torch.uint8) for n in names]
    assert torch.equal(decode(Path(source), names), torch.stack([decode_image(b, ImageReadMode.RGB) for b in blobs]))


def test_jpeg_quality_reuses_a_complete_zip_and_rewrites_a_damaged_one(tmp_path, fake_cifar_zip, capsys):
    sys.path.insert(0, str(BENCHMARKS))
    from jpeg_quality import reencoded_zip, sha256

    source_hash = sha256(fake_cifar_zip)
    path, manifest = reencoded_zip(fake_cifar_zip, source_hash, 50, tmp_path)
    written = path.stat().st_mtime_ns
    assert reencoded_zip(fake_cifar_zip, source_hash, 50, tmp_path) == (path, manifest)
    assert path.stat().st_mtime_ns == written and "reusing" in capsys.readouterr().err
    path.write_bytes(path.read_bytes()[:-100])  # cut short: the hash no longer matches
    again, fresh = reencoded_zip(fake_cifar_zip, source_hash, 50, tmp_path)
    assert again == path and fresh["sha256"] == manifest["sha256"] == sha256(path)  # the same bytes, rewritten
    assert reencoded_zip(fake_cifar_zip, "another source", 50, tmp_path)[1]["source_sha256"] == "another source"


def test_jpeg_quality_reencodes_and_trains_on_each(tmp_path, fake_cifar_zip):
    zips, runs = tmp_path / "zips", tmp_path / "runs"
    overrides = ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "dataset.batch_size=32"]
    figure = tmp_path / "jpeg_quality.png"
    args = ["--source", str(fake_cifar_zip), "--zips-dir", str(zips), "--runs-dir", str(runs), "--epochs", "1"]
    args += ["--qualities", "shipped", "30", "--psnr-images", "20", "--figure", str(figure)]
    payload = run_benchmark("jpeg_quality.py", tmp_path, *args, *(f"--override={o}" for o in overrides))
    assert figure.stat().st_size > 0
    assert payload["settings"]["shipped_quality_estimate"] == 75  # the fixture's quality, read off its tables
    shipped, q30 = payload["results"]
    assert (shipped["quality"], q30["quality"]) == ("shipped", 30) and shipped["zip"] == str(fake_cifar_zip)
    assert shipped["psnr_db"] is None and 10 < q30["psnr_db"] < 60 and q30["psnr_images"] == 20
    assert q30["bytes_per_image"] < shipped["bytes_per_image"]
    assert all(0 <= r["val_acc"] <= 1 and r["epochs"] == 1 for r in (shipped, q30))
    with zipfile.ZipFile(fake_cifar_zip) as a, zipfile.ZipFile(q30["zip"]) as b:
        assert a.namelist() == b.namelist()  # the same layout and order
    manifest = json.loads(Path(q30["zip"] + ".manifest.json").read_text())
    assert (manifest["quality"], manifest["images"], manifest["subsampling"]) == (30, 100, "4:2:0")
    assert not list(zips.glob("*.tmp"))


def test_resnet_cifar_paper_trains_its_queue_and_reports_figure_6(tmp_path, fake_cifar_zip):
    """A plain net and a ResNet of one depth, one epoch each: the report has both rows, curves and the figure."""
    runs, limits = tmp_path / "runs", ["trainer.limit_train_batches=2", f"dataset.zip_path={fake_cifar_zip}"]
    common = ["--runs-dir", str(runs), "--epochs", "1", *(f"--override={o}" for o in limits)]
    run_benchmark("resnet_cifar_paper.py", tmp_path, *common, "--models", "plain20", "resnet20")
    figure = tmp_path / "figure6.png"
    payload = run_benchmark("resnet_cifar_paper.py", tmp_path, *common, "--report", "--figure", str(figure))
    rows = {r["model"]: r for r in payload["results"]}
    assert sorted(rows) == ["plain20", "resnet20"] and figure.stat().st_size > 0
    assert rows["resnet20"]["parameters"] == rows["plain20"]["parameters"] == 269_722
    assert rows["resnet20"]["paper_test_error"] == 8.75 and rows["plain20"]["paper_test_error"] is None
    assert [len(r["curve"]) for r in rows.values()] == [1, 1]
    assert set(payload["settings"]["not_finished"]) == {
        "plain32",
        "plain44",
        "plain56",
        "resnet32",
        "resnet44",
        "resnet56",
    }
    # a later session without those run directories keeps their finished rows, saying where they come from
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(payload))
    moved = ["--runs-dir", str(tmp_path / "new_runs"), "--epochs", "1", "--report", "--earlier", str(earlier)]
    carried = {r["model"]: r for r in run_benchmark("resnet_cifar_paper.py", tmp_path, *moved)["results"]}
    assert {n: r["curve"] for n, r in carried.items()} == {n: r["curve"] for n, r in rows.items()}
    assert {r["carried_from"]["created"] for r in carried.values()} == {payload["created"]}


def test_feature_accuracy_runs_each_variant_beside_the_baseline_and_compares_means(tmp_path, fake_cifar_zip):
    """Baseline and EMA, two seeds each: four runs, one row per variant, the baseline's difference 0."""
    limits = ["trainer.limit_train_batches=2", f"dataset.zip_path={fake_cifar_zip}", "dataset.batch_size=16"]
    args = ["--runs-dir", str(tmp_path / "runs"), "--epochs", "1", "--variants", "ema", "--seeds", "0", "1"]
    payload = run_benchmark("feature_accuracy.py", tmp_path, *args, *(f"--override={o}" for o in limits))
    rows = {r["variant"]: r for r in payload["results"]}
    assert sorted(rows) == ["baseline", "ema"] and rows["baseline"]["vs_baseline_points"] == 0
    assert [(r["variant"], r["seed"]) for r in payload["settings"]["runs"]] == [
        ("baseline", 0),
        ("ema", 0),
        ("baseline", 1),
        ("ema", 1),
    ]
    accs = [r["val_acc"] for r in payload["settings"]["runs"] if r["variant"] == "ema"]
    assert rows["ema"]["mean_val_acc"] == pytest.approx(sum(accs) / 2)
    assert rows["ema"]["spread"] == pytest.approx(max(accs) - min(accs))


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

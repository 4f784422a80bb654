"""``evaluate.py images=...`` and the pictures a run and an evaluation leave: predictions, feature maps, Grad-CAM,
filters, misclassified examples, TensorBoard, and one-line errors for bad input."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import compose_config
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from zoo import create_model
from zoo.weights import WeightsError
from zootrain.callbacks import RunPlots
from zootrain.data import ImageClassificationData
from zootrain.errors import ConfigError
from zootrain.module import ZooClassifier
from zootrain.predict import picture_names
from zootrain.run import evaluate, train

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short default run (LeNet-5 on digits, 2 epochs) and its first 3 test images as PNG files."""
    root = tmp_path_factory.mktemp("run")
    cfg = compose_config(
        "train",
        [
            "trainer.accelerator=cpu",
            "trainer.enable_model_summary=false",
            "callbacks.progress_bar.refresh_rate=0",
            "trainer.max_epochs=2",
        ],
        root / "train",
    )
    result = train(cfg)
    data = ImageClassificationData(
        **torch.load(result["last_model_path"], weights_only=True)["datamodule_hyper_parameters"]
    )
    data.setup("test")
    folder = root / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(data.splits["test"].images[i, 0].numpy(), mode="L").save(folder / f"digit{i}.png")
    return {
        "ckpt": result["last_model_path"],
        "run_dir": Path(result["run_dir"]),
        "images": folder,
        "data": data,
        "root": root,
    }


@pytest.fixture
def eval_cfg(run, tmp_path):
    def factory(*overrides: str):
        return compose_config(
            "evaluate", ["trainer.accelerator=cpu", f"ckpt_path={run['ckpt']}", *overrides], tmp_path / "out"
        )

    return factory


def read_rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_predictions_on_a_folder_match_evaluation_of_the_same_images(run, eval_cfg, tmp_path):
    result = evaluate(eval_cfg(f"images={run['images']}", "top_k=3"))
    # evaluation's own preprocessing and model on the same three test images
    ckpt = torch.load(run["ckpt"], weights_only=True)
    module = ZooClassifier(**ckpt["hyper_parameters"])
    module.load_state_dict(ckpt["state_dict"])
    x, _ = next(iter(run["data"].test_dataloader()))
    expected = module.eval()(x[:3]).softmax(-1).topk(3)
    rows = read_rows(tmp_path / "out" / "predictions.csv")
    assert [Path(r["image"]).name for r in rows] == ["digit0.png", "digit1.png", "digit2.png"]
    for row, prediction, indices, values in zip(rows, result["predictions"], expected.indices, expected.values):
        assert [row[f"class{k}"] for k in (1, 2, 3)] == [str(i) for i in indices.tolist()]
        assert [float(row[f"probability{k}"]) for k in (1, 2, 3)] == pytest.approx(values.tolist(), abs=1e-5)
        assert prediction["probabilities"] == pytest.approx(values.tolist(), abs=1e-5)


def test_grey_rgba_and_any_size_images_are_prepared_and_a_bad_file_is_skipped(run, eval_cfg, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGBA", (50, 37), (200, 30, 30, 128)).save(folder / "rgba.png")
    Image.new("L", (300, 300), 90).save(folder / "grey.jpg")
    (folder / "broken.png").write_text("not an image")
    (folder / "notes.txt").write_text("ignored: not an image name")
    result = evaluate(eval_cfg(f"images={folder}"))
    assert sorted(Path(p["image"]).name for p in result["predictions"]) == ["grey.jpg", "rgba.png"]
    assert f"warning: skipping {folder / 'broken.png'}: not a readable image" in capsys.readouterr().out
    assert len(read_rows(tmp_path / "out" / "predictions.csv")) == 2


def test_a_glob_selects_images(run, eval_cfg):
    result = evaluate(eval_cfg(f"images='{run['images']}/digit[01].png'"))
    assert [Path(p["image"]).name for p in result["predictions"]] == ["digit0.png", "digit1.png"]


def test_feature_maps_and_gradcam_pictures(run, eval_cfg, tmp_path):
    evaluate(eval_cfg(f"images={run['images']}/digit0.png", "visualize=[feature_maps,gradcam]", "target_class=7"))
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "feature_maps" / "digit0").iterdir()) == ["stage1.png", "stem.png"]
    with Image.open(out / "gradcam" / "digit0.png") as image:
        assert image.size == (1000, 250)  # input + Grad-CAM and Grad-CAM++ for the predicted class and class 7


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["images=/no/such/place.png"], "images=/no/such/place.png: no such file or folder"),
        (["images={empty}"], "the folder holds no images"),
        (["images={text}"], "no readable image among"),
        (["images='/no/such/*.png'"], "the pattern matches no file"),
        (["images=[]"], "names no image: give a file, a folder or a glob"),
        (
            ["images={digits}", "visualize=gradcam", "target_class=10"],
            "target_class=10 is out of range: the model has 10",
        ),
        (["images={digits}", "visualize=saliency"], "visualize='saliency': give a list of feature_maps or gradcam"),
        (["visualize=gradcam"], "visualize=gradcam pictures your own images: add images=<file|folder|glob>"),
    ],
)
def test_bad_input_is_one_clear_error_and_nothing_is_written(run, eval_cfg, tmp_path, overrides, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text.png").write_text("not an image")
    paths = {"empty": tmp_path / "empty", "text": tmp_path / "text.png", "digits": run["images"]}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("*", r"\*")):
        evaluate(eval_cfg(*(o.format(**paths) for o in overrides)))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_checkpoint_of_another_architecture_is_refused(run, eval_cfg, tmp_path):
    ckpt = torch.load(run["ckpt"], weights_only=True)
    ckpt["hyper_parameters"]["model"]["name"] = "alexnet_cifar"
    mixed = tmp_path / "mixed.ckpt"
    torch.save(ckpt, mixed)
    for task in ([f"images={run['images']}"], ["split=val"]):  # predictions and evaluation alike
        cfg = compose_config("evaluate", ["trainer.accelerator=cpu", f"ckpt_path={mixed}", *task], tmp_path / "out")
        with pytest.raises(
            WeightsError, match="(its weights are not those of|its settings do not build) alexnet_cifar"
        ):
            evaluate(cfg)
        assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_the_command_line_prints_one_line(run, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "evaluate.py"),
            f"ckpt_path={run['ckpt']}",
            f"images={tmp_path}/missing.png",
            f"hydra.run.dir={tmp_path}/out",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: images={tmp_path}/missing.png: no such file or folder"]


def test_a_run_leaves_filters_before_and_after_in_one_picture(run):
    with Image.open(run["run_dir"] / "filters.png") as image:
        assert image.size == (800, 340)
    assert not (run["run_dir"] / "deeper_patches.png").exists()  # LeNet's 5x5 kernels are shown as they are


def test_3x3_first_layers_get_a_deeper_stage_view(run, tmp_path):
    data = ImageClassificationData(name="digits", batch_size=4)
    data.set_model_input(32)
    RunPlots(str(tmp_path)).plot_deeper_patches(create_model("vgg11_bn_cifar", num_classes=10, in_chans=1), data, 8)
    with Image.open(tmp_path / "deeper_patches.png") as image:
        assert image.size[0] == 480


def test_evaluation_shows_the_most_confident_mistakes(run, eval_cfg, tmp_path):
    metrics = evaluate(eval_cfg("split=val"))
    assert metrics["top1"] < 1  # two epochs: mistakes to show
    with Image.open(tmp_path / "out" / "misclassified.png") as image:
        assert image.size == (1200, 350)  # 8 columns, 2 rows of 16


def test_tensorboard_gets_filters_feature_maps_and_the_confusion_matrix(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_config(
        "train",
        [
            "trainer.accelerator=cpu",
            "trainer.enable_model_summary=false",
            "callbacks.progress_bar.refresh_rate=0",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=2",
            "logger=tensorboard",
        ],
        tmp_path / "tb",
    )
    train(cfg)
    events = EventAccumulator(str(next((tmp_path / "tb" / "tensorboard").glob("events*"))), size_guidance={"images": 0})
    events.Reload()
    steps = {tag: [e.step for e in events.Images(tag)] for tag in events.Tags()["images"]}
    assert steps == {
        "filters/first_layer": [0, 1],
        "confusion_matrix/val": [1],
        "feature_maps/stem": [1],
        "feature_maps/stage1": [1],
    }


def test_pictures_of_images_with_the_same_name_do_not_overwrite_each_other(run, eval_cfg, tmp_path):
    inputs = [tmp_path / folder / "x.png" for folder in ("a", "b")]
    for source, target in zip(("digit0.png", "digit1.png"), inputs):
        target.parent.mkdir()
        target.write_bytes((run["images"] / source).read_bytes())
    evaluate(eval_cfg(f"images=[{inputs[0]},{inputs[1]}]", "visualize=[feature_maps,gradcam]"))
    out = tmp_path / "out"
    pictures = {p.relative_to(out / "gradcam").as_posix(): p.read_bytes() for p in (out / "gradcam").rglob("*.png")}
    assert sorted(pictures) == ["a/x.png", "b/x.png"] and pictures["a/x.png"] != pictures["b/x.png"]
    assert sorted(p.name for p in (out / "feature_maps").iterdir()) == ["a", "b"]
    assert [Path(r["image"]) for r in read_rows(out / "predictions.csv")] == inputs


def test_an_output_that_would_overwrite_an_input_image_is_refused(run, eval_cfg, tmp_path):
    image = tmp_path / "out" / "gradcam" / "digit0.png"  # a picture of an earlier evaluation, given as input
    image.parent.mkdir(parents=True)
    image.write_bytes((run["images"] / "digit0.png").read_bytes())
    before = image.read_bytes()
    with pytest.raises(ConfigError, match="is an input and would be overwritten"):
        evaluate(eval_cfg(f"images={image}", "visualize=gradcam"))
    assert image.read_bytes() == before


def test_evaluating_other_classes_than_the_models_is_refused_naming_both(run, eval_cfg):
    with pytest.raises(
        ConfigError,
        match=r"the data has 2 classes \(3, 5\), but \S+ was trained on 10 classes \(0, 1, 2, 3, 4, 5, \.\.\.\); "
        r"label 0 is '3' here, '0' there",
    ):
        evaluate(eval_cfg("+dataset.classes=[3,5]"))


def test_a_renamed_class_folder_is_refused_instead_of_permuting_the_labels(tmp_path):
    root = tmp_path / "images"
    for name, grey in (("cat", 40), ("dog", 120), ("emu", 200)):
        (root / name).mkdir(parents=True)
        for k in range(6):
            Image.new("RGB", (32, 32), (grey, grey + k, grey)).save(root / name / f"{k}.png")
    quiet = ["trainer.accelerator=cpu", "trainer.enable_model_summary=false", "callbacks.progress_bar.refresh_rate=0"]
    ckpt = train(
        compose_config(
            "train",
            [
                *quiet,
                "dataset=imagefolder",
                f"dataset.root={root}",
                "dataset.val_fraction=0.34",
                "dataset.batch_size=4",
                "dataset.num_workers=0",
                "trainer.max_epochs=1",
            ],
            tmp_path / "train",
        )
    )["last_model_path"]
    (root / "dog").rename(root / "wolf")
    cfg = compose_config(
        "evaluate", ["trainer.accelerator=cpu", f"ckpt_path={ckpt}", f"dataset.root={root}"], tmp_path / "eval"
    )
    with pytest.raises(ConfigError, match=r"label 1 is 'emu' here, 'dog' there"):
        evaluate(cfg)
    assert not (tmp_path / "eval" / "metrics.json").exists()


@given(st.lists(st.sampled_from(["a/x.png", "b/x.png", "x.png", "x.jpg", "x-2.png", "a/b/x.png"]), min_size=1))
def test_every_image_gets_pictures_of_its_own(relative_paths):
    names = picture_names([Path("/images") / p for p in relative_paths])
    assert len(set(names)) == len(names)

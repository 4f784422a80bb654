"""``evaluate.py model=<name> pretrained=<tag>``: every shipped weights file reproduces the accuracy its record states,
through the same evaluation as a ``train.py`` checkpoint (no checkpoint needed)."""

from __future__ import annotations

import os

import pytest

from zoo.catalog import catalogue, weights_record
from zoo.errors import WeightsError
from zootrain.errors import ConfigError
from zootrain.run import evaluate

SHIPPED = sorted(name for name, record in catalogue().items() if record.shipped)
SPLITS = {"digits": ("test", None), "cifar10": ("val", "CNN_ZOO_CIFAR10_ZIP")}  # the split each record states


@pytest.fixture(scope="module")
def decoded_cache(tmp_path_factory):
    """One decoded-image cache for the module's evaluations (CIFAR-10's 50,000 JPEGs decode once, not per test)."""
    return tmp_path_factory.mktemp("cache")


def evaluate_weights(make_cfg, name: str, *overrides: str, cache=None) -> dict:
    arch, tag = name.split(".")
    record = weights_record(arch, tag)
    split, needs = SPLITS[record.dataset]
    if needs and not os.environ.get(needs):
        pytest.skip(f"${needs} is not set")
    cached = [f"+dataset.cache_dir={cache}"] if cache else []
    cfg = make_cfg(
        f"model={arch}", f"pretrained={tag}", f"split={split}", "threads=1", *cached, *overrides, config_name="evaluate"
    )
    return evaluate(cfg)


def test_every_shipped_weights_file_is_checked_here():
    assert set(SHIPPED) >= {"lenet5.digits", "resnet20.cifar10"}
    assert {weights_record(*n.split(".")).dataset for n in SHIPPED} <= set(SPLITS)


def test_lenet5_digits_weights_reproduce_their_record_without_a_checkpoint(make_cfg):
    metrics = evaluate_weights(make_cfg, "lenet5.digits")
    assert round(100 * metrics["top1"], 2) == weights_record("lenet5", "digits").accuracy.top1


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_evaluate_on_a_few_batches(make_cfg, name, decoded_cache):
    metrics = evaluate_weights(make_cfg, name, "trainer.limit_test_batches=2", cache=decoded_cache)
    assert 0 <= metrics["top1"] <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_reproduce_their_recorded_accuracy_within_a_tenth_of_a_point(make_cfg, name):
    metrics = evaluate_weights(make_cfg, name)
    assert abs(100 * metrics["top1"] - weights_record(*name.split(".")).accuracy.top1) <= 0.1


def test_evaluating_weights_needs_a_model_and_no_checkpoint(make_cfg):
    with pytest.raises(ConfigError, match="give model=<name> and no ckpt_path"):
        evaluate(make_cfg("pretrained=cifar10", config_name="evaluate"))
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate(make_cfg(config_name="evaluate"))
    with pytest.raises(WeightsError, match="its tags: cifar10"):
        evaluate(make_cfg("model=resnet20", "pretrained=imagenet", config_name="evaluate"))


def test_published_weights_predict_on_your_own_images_as_a_checkpoint_does(make_cfg, tmp_path):
    """``model=lenet5 pretrained=digits images=...``: the weights' class names and preprocessing, no checkpoint;
    test-time augmentation belongs to a split's evaluation and is refused with images."""
    from PIL import Image

    folder = tmp_path / "mine"
    folder.mkdir()
    Image.new("L", (8, 8), 255).save(folder / "white.png")
    result = evaluate(make_cfg("model=lenet5", "pretrained=digits", f"images={folder}", config_name="evaluate"))
    [row] = result["predictions"]
    assert len(row["classes"]) == 5 and set(row["classes"]) <= set("0123456789")
    assert sum(row["probabilities"]) <= 1 + 1e-6
    with pytest.raises(ConfigError, match="tta=flip averages views over a split"):
        evaluate(make_cfg("model=lenet5", "pretrained=digits", f"images={folder}", "tta=flip", config_name="evaluate"))

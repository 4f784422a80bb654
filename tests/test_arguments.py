"""The library API checks its arguments (zoo.arguments): for any arguments, either a model that works as promised
or a TypeError/ValueError/KeyError/WeightsError naming the wrong argument; never another exception, never a model
that is silently wrong. Property-based (Hypothesis), over cheap models."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import WeightsError, create_model, model_info
from zoo.weights import load_pretrained

CHEAP_MODELS = ["lenet5", "lenet5_modern", "resnet20", "plain20"]
DOCUMENTED = (TypeError, ValueError, KeyError, WeightsError)
# no subnormals: a training run earlier in the same process flushes them to zero (torch.set_flush_denormal)
ANY_VALUE = st.one_of(st.none(), st.booleans(), st.floats(-2, 12, allow_subnormal=False), st.text(max_size=3))
CLASS_COUNTS = st.one_of(st.integers(-3, 12), ANY_VALUE)
CHANNELS = st.one_of(st.integers(-2, 4), ANY_VALUE)
INDICES = st.one_of(st.none(), st.integers(-3, 7), st.lists(st.integers(-7, 7), max_size=4), st.text(max_size=2))
POOLS = st.one_of(st.none(), st.sampled_from(["avg", "", "max", "token", "AVG"]))
FAST = settings(max_examples=25, derandomize=True, deadline=None, database=None)
THOROUGH = settings(max_examples=400, derandomize=True, deadline=None, database=None)


def _tiny_input(model) -> torch.Tensor:
    inner = getattr(model, "model", model)  # a FeatureListNet wraps the model
    return torch.randn(2, *inner.info.min_input_size)


def _names_an_argument(err: Exception, given: dict) -> bool:
    return any(argument in str(err) for argument in given)


def check_create_model(name, num_classes, in_chans, features_only, out_indices):
    given = {"num_classes": num_classes, "in_chans": in_chans, "features_only": features_only}
    given["out_indices"] = out_indices
    try:
        model = create_model(name, **given).eval()
    except DOCUMENTED as err:
        assert _names_an_argument(err, given), f"{type(err).__name__} names no argument: {err}"
        return
    info = model_info(name)
    inner = getattr(model, "model", model)  # a FeatureListNet wraps the model
    assert inner.in_chans == (info.input_size[0] if in_chans is None else in_chans)
    with torch.no_grad():
        out = model(_tiny_input(model))
    if features_only:
        assert len(out) == len(model.feature_info) and [o.shape[1] for o in out] == model.feature_info.channels()
    else:
        classes = info.num_classes if num_classes is None else num_classes
        assert out.shape == (2, classes or model.head_hidden_size)


def check_reset_classifier(name, num_classes, global_pool):
    model = create_model(name).eval()
    given = {"num_classes": num_classes, "global_pool": global_pool}
    try:
        model.reset_classifier(num_classes, global_pool=global_pool)
    except DOCUMENTED as err:
        assert _names_an_argument(err, given), f"{type(err).__name__} names no argument: {err}"
        return
    with torch.no_grad():
        out = model(_tiny_input(model))
    if global_pool == "":
        assert out.ndim == 4 and out.shape[1] == model.num_features
    else:
        assert out.shape == (2, num_classes or model.head_hidden_size)


@FAST
@given(st.sampled_from(CHEAP_MODELS), CLASS_COUNTS, CHANNELS, st.booleans(), INDICES)
def test_create_model_works_or_names_the_wrong_argument(name, num_classes, in_chans, features_only, out_indices):
    check_create_model(name, num_classes, in_chans, features_only, out_indices)


@FAST
@given(st.sampled_from(CHEAP_MODELS), CLASS_COUNTS, POOLS)
def test_reset_classifier_works_or_names_the_wrong_argument(name, num_classes, global_pool):
    check_reset_classifier(name, num_classes, global_pool)


@pytest.mark.slow
@THOROUGH
@given(st.sampled_from(CHEAP_MODELS), CLASS_COUNTS, CHANNELS, st.booleans(), INDICES)
def test_create_model_property_thoroughly(name, num_classes, in_chans, features_only, out_indices):
    check_create_model(name, num_classes, in_chans, features_only, out_indices)


@pytest.mark.slow
@THOROUGH
@given(st.sampled_from(CHEAP_MODELS), CLASS_COUNTS, POOLS)
def test_reset_classifier_property_thoroughly(name, num_classes, global_pool):
    check_reset_classifier(name, num_classes, global_pool)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"num_classes": -1}, ValueError, "num_classes=-1: must be at least 0"),
        ({"num_classes": 2.5}, TypeError, "num_classes=2.5: expected an int"),
        ({"num_classes": True}, TypeError, "num_classes=True: expected an int"),
        ({"in_chans": 0}, ValueError, "in_chans=0: must be at least 1"),
        ({"features_only": True, "out_indices": [1, 1]}, ValueError, "out_indices=[1, 1] names a stage twice"),
        ({"features_only": True, "out_indices": [9]}, ValueError, "out_indices: stage indices [9] out of range"),
        ({"features_only": True, "out_indices": "1"}, TypeError, "out_indices='1': expected None, an int"),
    ],
)
def test_wrong_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=__import__("re").escape(message)):
        create_model("resnet20", **kwargs)


def test_reset_classifier_names_an_unknown_global_pool():
    with pytest.raises(ValueError, match=r"global_pool='max' is not available; choose one of \[None, 'avg', ''\]"):
        create_model("resnet20").reset_classifier(3, global_pool="max")


def test_load_pretrained_names_a_directory_or_a_missing_file(tmp_path):
    model = create_model("lenet5")
    with pytest.raises(WeightsError, match="source=.* is a directory, not a weights file"):
        load_pretrained(model, tmp_path)
    with pytest.raises(WeightsError, match="checkpoint not found: .*nothing.pth \\(given as source\\)"):
        load_pretrained(model, tmp_path / "nothing.pth")

"""BN-Inception, Inception-v4 and Inception-ResNet: the papers' layer tables, parameter counts and deviations."""
import sys

import pytest
import torch

from zoo import count_parameters, create_model, model_info


def _stage_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Output shape (C, H, W) after each group but the head, at the paper's input size (shapes only, on meta)."""
    with torch.device("meta"):
        model = create_model(name).eval()
        shapes = {}
        x = torch.empty(1, *model_info(name).input_size)
        for group, layers in model.group_layout()[:-1]:
            for layer in layers:
                x = model.get_submodule(layer)(x)
            shapes[group] = tuple(x.shape[1:])
    return shapes


def _param_count(name: str) -> int:
    with torch.device("meta"):  # shapes only: skips the weight init
        return count_parameters(create_model(name))


def _deviations(name: str) -> str:
    with torch.device("meta"):
        doc = sys.modules[type(create_model(name)).__module__].__doc__
    return doc[doc.index("Deviations"):]


# ----- BN-Inception (Ioffe & Szegedy 2015, Figure 5) -----

def test_bn_inception_follows_figure_5():
    assert _stage_shapes("bn_inception") == {
        "stem": (192, 28, 28), "stage1": (576, 14, 14), "stage2": (1056, 7, 7), "stage3": (1024, 7, 7)}
    with torch.device("meta"):
        model = create_model("bn_inception")
    assert not hasattr(model.inception3c, "branch1x1") and not hasattr(model.inception3c, "branch_pool_1")
    assert model.inception3c.branch3x3_2.conv.stride == (2, 2)
    assert model.inception4a.branch3x3dbl_3.conv.weight.shape == (128, 128, 3, 3)  # double 3x3, no 5x5
    assert isinstance(model.inception5b.branch_pool_pool, torch.nn.MaxPool2d)
    assert model.aux_weights == () and model.info.input_size == (3, 224, 224)


def test_bn_inception_parameter_count():
    assert _param_count("bn_inception") == 11_285_224


def test_bn_inception_names_its_deviations():
    deviations = _deviations("bn_inception")
    assert "608" in deviations and "1056" in deviations  # the table's depth column vs its filter counts
    assert "ceil_mode" in deviations and "dropout" in deviations.lower()

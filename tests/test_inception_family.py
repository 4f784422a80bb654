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
    return doc[doc.index("Deviations") :]


# ----- BN-Inception (Ioffe & Szegedy 2015, Figure 5) -----


def test_bn_inception_follows_figure_5():
    assert _stage_shapes("bn_inception") == {
        "stem": (192, 28, 28),
        "stage1": (576, 14, 14),
        "stage2": (1056, 7, 7),
        "stage3": (1024, 7, 7),
    }
    with torch.device("meta"):
        model = create_model("bn_inception")
    assert not hasattr(model.inception3c, "branch1x1") and not hasattr(model.inception3c, "branch_pool_1")
    assert model.inception3c.branch3x3_2.conv.stride == (2, 2)
    assert model.inception4a.branch3x3dbl_3.conv.weight.shape == (128, 128, 3, 3)  # double 3x3, no 5x5
    assert isinstance(model.inception5b.branch_pool_pool, torch.nn.MaxPool2d)
    assert model.aux_weights == () and model.info.input_size == (3, 224, 224)


def test_bn_inception_runs_where_its_stride_2_modules_see_odd_grids():
    model = create_model("bn_inception", num_classes=3).eval()
    with torch.no_grad():  # 40 -> 20 -> 10 -> 5 into 3c: a round-up 3x3/2 max pool would give 2, the convs 3
        assert model.forward_features(torch.randn(1, 3, 40, 40)).shape == (1, 1024, 2, 2)


def test_bn_inception_parameter_count():
    assert _param_count("bn_inception") == 11_278_528
    with torch.device("meta"):
        full_stem = create_model("bn_inception", separable_stem=False)
    assert count_parameters(full_stem) == 11_285_224 == 11_278_528 - (3 * 8 * 49 + 24 * 64) + 3 * 64 * 49


def test_bn_inception_first_convolution_is_separable_with_depth_multiplier_8():
    with torch.device("meta"):
        model = create_model("bn_inception")
    assert model.conv1.conv.weight.shape == (24, 1, 7, 7) and model.conv1.conv.groups == 3  # depthwise
    assert model.conv1.pointwise.weight.shape == (64, 24, 1, 1)


def test_bn_inception_names_its_deviations():
    deviations = _deviations("bn_inception")
    assert "608" in deviations and "1056" in deviations  # the table's depth column vs its filter counts
    assert "ceil_mode" in deviations and "dropout" in deviations.lower() and "separable_stem" in deviations


# ----- Inception-v4 and Inception-ResNet (Szegedy et al. 2017) -----


def test_inception_v4_follows_figure_9():
    assert _stage_shapes("inception_v4") == {
        "stem": (384, 35, 35),
        "stage1": (384, 35, 35),
        "stage2": (1024, 17, 17),
        "stage3": (1536, 8, 8),
    }
    with torch.device("meta"):
        model = create_model("inception_v4")
    groups = dict(model.group_layout())
    assert groups["stage1"] == ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_5e"]  # 4 x Inception-A
    assert groups["stage2"] == ["Mixed_6a"] + [f"Mixed_6{c}" for c in "bcdefgh"]  # Reduction-A, 7 x Inception-B
    assert groups["stage3"] == ["Mixed_7a", "Mixed_7b", "Mixed_7c", "Mixed_7d"]  # Reduction-B, 3 x Inception-C
    assert model.dropout.p == pytest.approx(0.2) and model.aux_weights == ()  # keep probability 0.8


@pytest.mark.parametrize(
    "name,widths,scales",
    [
        (
            "inception_resnet_v1",
            (256, 896, 1792),  # Figure 15: 5 x A, 10 x B, 5 x C
            [(0.17, True)] * 5 + [(0.10, True)] * 10 + [(0.20, True)] * 5,
        ),
        (
            "inception_resnet_v2",
            (320, 1088, 1536),  # released: 10 x A, 20 x B, 10 x C, the last one linear, then 1x1 1536
            [(0.17, True)] * 10 + [(0.10, True)] * 20 + [(0.20, True)] * 9 + [(1.0, False)],
        ),
    ],
)
def test_inception_resnet_stages_and_residual_scales(name, widths, scales):
    a, b, c = widths
    assert _stage_shapes(name) == {
        "stem": (a, 35, 35),
        "stage1": (a, 35, 35),
        "stage2": (b, 17, 17),
        "stage3": (c, 8, 8),
    }
    with torch.device("meta"):
        model = create_model(name)
    blocks = [m for n, m in model.named_children() if n.startswith("block")]
    assert [(m.scale, isinstance(m.relu, torch.nn.ReLU)) for m in blocks] == scales


def _conv_bn(c_in: int, c_out: int, kh: int, kw: int | None = None) -> int:
    return c_in * c_out * kh * (kh if kw is None else kw) + 2 * c_out  # bias-free conv + BN scale and shift


def test_inception_resnet_v1_count_derived_from_the_figures():
    stem = (
        _conv_bn(3, 32, 3)
        + _conv_bn(32, 32, 3)
        + _conv_bn(32, 64, 3)
        + _conv_bn(64, 80, 1)
        + _conv_bn(80, 192, 3)
        + _conv_bn(192, 256, 3)
    )  # Figure 14
    block_a = 3 * _conv_bn(256, 32, 1) + 3 * _conv_bn(32, 32, 3) + 96 * 256 + 256  # Figure 10
    reduction_a = _conv_bn(256, 384, 3) + _conv_bn(256, 192, 1) + _conv_bn(192, 192, 3) + _conv_bn(192, 256, 3)
    block_b = 2 * _conv_bn(896, 128, 1) + _conv_bn(128, 128, 1, 7) + _conv_bn(128, 128, 7, 1) + 256 * 896 + 896
    reduction_b = 3 * _conv_bn(896, 256, 1) + _conv_bn(256, 384, 3) + 3 * _conv_bn(256, 256, 3)  # Figure 12
    block_c = 2 * _conv_bn(1792, 192, 1) + _conv_bn(192, 192, 1, 3) + _conv_bn(192, 192, 3, 1) + 384 * 1792 + 1792
    fc = 1792 * 1000 + 1000
    expected = stem + 5 * block_a + reduction_a + 10 * block_b + reduction_b + 5 * block_c + fc
    assert expected == _param_count("inception_resnet_v1") == 22_756_328


@pytest.mark.parametrize(
    "name,expected",
    [
        ("inception_v4", 42_679_816),  # timm's inception_v4
        ("inception_resnet_v2", 55_843_464),  # timm's inception_resnet_v2
    ],
)
def test_parameter_count_equals_the_reference_implementation(name, expected):
    assert _param_count(name) == expected


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v1", "inception_resnet_v2"])
def test_registered_with_the_reference_preprocessing(name):
    info = model_info(name)
    assert info.input_size == (3, 299, 299) and info.min_input_size == (3, 75, 75)
    assert info.mean == info.std == (0.5, 0.5, 0.5)


def test_inception_v4_and_resnet_name_their_deviations():
    assert "batch norm" in _deviations("inception_v4").lower()
    resnet = _deviations("inception_resnet_v2")
    for figure in ("1152", "1154", "320", "1088", "2080", "1536"):  # the released widths against the figures
        assert figure in resnet
    assert "stem" in resnet and "without ReLU" in resnet


@pytest.mark.parametrize("name", ["bn_inception", "inception_v4", "inception_resnet_v1", "inception_resnet_v2"])
def test_minimum_input_is_the_true_minimum(name):
    model = create_model(name, num_classes=3).eval()
    _, h, w = model_info(name).min_input_size
    model.info = None  # no size check: the layers themselves decide
    with torch.no_grad():
        assert model(torch.randn(1, 3, h, w)).shape == (1, 3)
        with pytest.raises(RuntimeError):
            model(torch.randn(1, 3, h - 1, w - 1))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_timm_state_dict_loads_by_position_with_identical_outputs(name):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model(name).eval()
    for m in reference.modules():  # fresh BN is the identity in eval mode; give it non-trivial statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    model = create_model(name).eval()
    ours, theirs = model.state_dict(), reference.state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
    model.load_state_dict(dict(zip(ours, theirs.values())))
    x = torch.randn(2, 3, 299, 299)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=1e-5)


@pytest.mark.integration
def test_the_worked_example_of_inception_blocks_is_what_is_built():
    """The state-dict names and shapes the zoo.inception_blocks docstring shows for Inception v3's Mixed_5b row."""
    import re

    import zoo.inception_blocks

    doc = zoo.inception_blocks.__doc__
    shown = re.findall(r"(Mixed_5b\.[\w.]+weight)\s+\(([\d, ]+)\)", doc)
    state = create_model("inception_v3").state_dict()
    assert len(shown) == 7
    for key, shape in shown:
        assert tuple(state[key].shape) == tuple(int(d) for d in shape.split(",")), key
    model = create_model("inception_v3")
    assert model.Mixed_5b.out_channels == 256 and "Mixed_5b" in dict(model.group_layout())["stage5"]
    assert isinstance(model.Mixed_5b.branch_pool_pool, torch.nn.AvgPool2d)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_timm_key_table_maps_timms_names_onto_the_zoos(name):
    """The rename table zoo.pretrained applies to timm's published file is the positional pairing of the two
    state_dicts (the test above shows that pairing gives identical outputs)."""
    import json

    from catalog_sources import module_renames

    from zoo.catalog import WEIGHTS_DIR, catalogue
    from zoo.pretrained import rename_modules

    timm = pytest.importorskip("timm")
    reference = timm.create_model(name)
    record = catalogue()[f"{name}.tf_in1k"]
    table = json.loads((WEIGHTS_DIR / record.key_map).read_text())
    assert table == module_renames(reference, name)
    renamed = rename_modules(reference.state_dict(), table)
    assert list(renamed) == list(create_model(name).state_dict())

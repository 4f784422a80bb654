"""The one interface, checked on every registered model (the list comes from the registry, not by hand)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from model_checks import built

import zoo
from zoo import count_parameters, create_model, list_models, model_info, split_output
from zoo.registry import SMALL_INPUT_PIXELS

ALL_MODELS = list_models()
NUM_CLASSES = 7


def _batch(name: str, size: str = "min", n: int = 2) -> torch.Tensor:
    info = model_info(name)
    c, h, w = info.min_input_size if size == "min" else info.input_size
    return torch.randn(n, c, h, w)


def _is_big(name: str) -> bool:
    _, h, _ = model_info(name).input_size
    return h >= 224


def _heavy_models() -> set[str]:
    """ImageNet-sized models other than the smallest-named one of each paper: their checks run with -m slow."""
    big = sorted((n for n in ALL_MODELS if _is_big(n)), key=lambda n: (len(n), n))
    representative = {}
    for name in big:
        representative.setdefault(model_info(name).paper, name)
    return set(big) - set(representative.values()) | DEEP_SMALL_INPUT_MODELS


# CIFAR-sized but 15M+ parameters (in hundreds of layers, or ImageNet-width bottlenecks): torch.export / compile
# take 10-60 s each; resnet18_cifar stands for the ImageNet-width ResNets at 32 px in the default run
DEEP_SMALL_INPUT_MODELS = {
    "resnet1202",
    "densenet_bc250_cifar",
    "densenet_bc190_cifar",
    "resnet50_cifar",
    "resnet101_cifar",
    "resnet152_cifar",
}


HEAVY = _heavy_models()


def _representatives() -> set[str]:
    """The smallest-named small-input model of each paper (``resnet20`` for the ResNets), else its smallest-named."""
    chosen = {}
    for name in sorted(ALL_MODELS, key=lambda n: (_is_big(n), not n.startswith("resnet"), len(n), n)):
        if name not in HEAVY:
            chosen.setdefault(model_info(name).paper, name)
    return set(chosen.values())


REPRESENTATIVES = _representatives()


def registry(cheap: bool = False, graph_capture: bool = False) -> list:
    """Every registered model. A check that runs the model (a forward, a backward: up to seconds per model) runs on
    one model of each paper by default (``REPRESENTATIVES``), on the others with ``-m integration`` and on the heavy
    ones with ``-m slow``; ``cheap``: a check cheap enough to run by default on every model but the heavy ones
    (which take seconds just to initialise: those with ``-m integration``); ``graph_capture`` (torch.compile,
    torch.export, TorchScript, torch.fx: 5-15 s for an ImageNet-sized Inception on a CPU): by default on the
    small-input representatives only."""
    params = []
    for name in ALL_MODELS:
        if cheap:
            params.append(pytest.param(name, marks=pytest.mark.integration) if name in HEAVY else name)
        elif name in HEAVY:
            params.append(pytest.param(name, marks=pytest.mark.slow))
        elif name not in REPRESENTATIVES or (graph_capture and _is_big(name)):
            params.append(pytest.param(name, marks=pytest.mark.integration))
        else:
            params.append(name)
    return params


def test_registry_is_populated():
    families = {"lenet5", "alexnet", "vgg16", "googlenet", "inception_v3", "resnet18", "densenet121"}
    assert families <= set(ALL_MODELS)


@pytest.mark.parametrize("name", registry(cheap=True))
def test_output_shape_at_min_input(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=NUM_CLASSES).eval()
    with torch.no_grad():
        out = model(_batch(name))
    assert out.shape == (2, NUM_CLASSES)
    assert model.num_classes == NUM_CLASSES


@pytest.mark.parametrize("name", registry())
def test_output_shape_at_default_input(name):
    model = built(name, num_classes=NUM_CLASSES).eval()
    with torch.no_grad():
        assert model(_batch(name, "default", n=1)).shape == (1, NUM_CLASSES)


@pytest.mark.parametrize("name", registry())
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = built(name, num_classes=NUM_CLASSES).train()
    logits, aux = split_output(model(_batch(name)))
    loss = logits.sum() + sum(a.sum() for a in aux)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    assert len(aux) == len(model.aux_weights)


@pytest.mark.parametrize("name", registry())
def test_reset_classifier_zero_returns_pre_logits(name):
    model = built(name, num_classes=NUM_CLASSES).eval()
    model.reset_classifier(0)
    x = _batch(name)
    with torch.no_grad():
        feats = model(x)
        torch.testing.assert_close(feats, model.forward_head(model.forward_features(x), pre_logits=True))
    assert feats.shape == (2, model.head_hidden_size)
    model.reset_classifier(3)
    with torch.no_grad():
        assert model(_batch(name)).shape == (2, 3)
    assert model.get_classifier().out_features == 3


@pytest.mark.parametrize("name", registry())
def test_forward_features_then_head_equals_forward(name):
    torch.manual_seed(0)
    model = built(name, num_classes=NUM_CLASSES).eval()
    x = _batch(name)
    with torch.no_grad():
        full = model(x)
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        torch.testing.assert_close(model.forward_head(feats), full)
    assert feats.shape[1] == model.num_features and pooled.shape == (2, model.head_hidden_size)


@pytest.mark.parametrize("name", registry())
def test_single_image_in_eval_mode(name):
    model = built(name, num_classes=NUM_CLASSES).eval()
    with torch.no_grad():
        assert model(_batch(name, n=1)).shape == (1, NUM_CLASSES)


@pytest.mark.parametrize("name", registry())
def test_same_seed_same_weights(name):
    torch.manual_seed(123)
    a = create_model(name).state_dict()
    torch.manual_seed(123)
    b = create_model(name).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ALL_MODELS)  # on the meta device: cheap for every model
def test_groups_cover_every_parameter_in_order(name):
    with torch.device("meta"):  # the structure only: no weights to initialise (seconds for a VGG)
        model = create_model(name, num_classes=NUM_CLASSES)
    groups = model.parameter_groups()
    names = list(groups)
    assert names[0] == "stem" and names[-1] == "head"
    assert sum(len(v) for v in groups.values()) == len(list(model.parameters()))
    head_params = {id(p) for _, p in groups["head"]}
    assert all(id(p) in head_params for p in model.get_classifier().parameters())


@pytest.mark.parametrize("name", registry())
def test_metadata_is_complete(name):
    info = model_info(name)
    model = create_model(name, num_classes=NUM_CLASSES, in_chans=1)
    assert info.paper and info.first_conv and info.classifier
    assert len(info.mean) == len(info.std) == info.input_size[0]
    assert model.get_submodule(info.first_conv).in_channels == 1
    assert model.info.input_size[0] == 1 and model.info.num_classes == NUM_CLASSES
    module_doc = sys.modules[type(model).__module__].__doc__
    assert "Deviations" in module_doc, "each model module documents its paper and its deviations"


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if model_info(n).small_input_model])
def test_small_input_model_is_a_registered_small_sibling(name):
    info = model_info(name)
    small = model_info(info.small_input_model)
    assert small.input_size[1] <= SMALL_INPUT_PIXELS < info.input_size[1]
    assert small.paper == info.paper and small.first_conv == info.first_conv


@pytest.mark.parametrize("name", registry())
def test_input_too_small_or_wrong_channels_is_a_clear_error(name):
    model = built(name).eval()
    c, h, w = model_info(name).min_input_size
    with pytest.raises(ValueError, match=rf"{name}.*{h}x{w}.*got {h - 1}x{w - 1}"):
        model(torch.randn(1, c, h - 1, w - 1))
    with pytest.raises(ValueError, match=rf"{name}.*\(N, {c}, H, W\)"):
        model(torch.randn(1, c + 1, h, w))


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="resnet18"):
        create_model("resnet-18")


def test_duplicate_registration_raises():
    from zoo.resnet import ResNet

    def resnet18(**kwargs):
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="already registered"):
        zoo.register_model(ResNet, paper="x", input_size=(3, 32, 32), min_input_size=(3, 32, 32), family="resnet")(
            resnet18
        )


def test_list_models_glob_is_sorted():
    names = list_models("resnet*")
    assert names == sorted(names) and "resnet50" in names and all(n.startswith("resnet") for n in names)


def test_importing_zoo_does_not_import_lightning_or_hydra():
    code = (
        "import sys, zoo; zoo.create_model('resnet18'); "
        "bad = [m for m in ('lightning', 'pytorch_lightning', 'hydra', 'omegaconf', 'zootrain') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


PAPER_PARAMETER_COUNTS = {
    "alexnet": 60_965_224,
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "densenet121": 7_978_856,
}


@pytest.mark.parametrize("name,expected", PAPER_PARAMETER_COUNTS.items())
def test_parameter_count_matches_paper(name, expected):
    assert count_parameters(create_model(name)) == expected


@pytest.mark.parametrize("name", registry(graph_capture=True))
def test_torch_export_in_eval_mode(name):
    model = built(name, num_classes=NUM_CLASSES).eval()
    x = _batch(name, n=2)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", registry(graph_capture=True))
def test_torch_compile_fullgraph_in_eval_mode(name):
    torch._dynamo.reset()
    model = built(name, num_classes=NUM_CLASSES).eval()
    x = _batch(name, n=2)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5", "resnet18_cifar", "googlenet_cifar", "densenet_bc100_cifar"])
def test_torch_compile_inductor(name):
    torch._dynamo.reset()
    model = create_model(name, num_classes=NUM_CLASSES).eval()
    x = _batch(name, n=2)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model)(x), model(x), rtol=1e-3, atol=1e-3)


def test_every_model_is_a_written_out_def_in_its_family_module():
    """One way to declare a model: ``@register_model(..., family=...)`` over a ``def NAME``, so ``from zoo.resnet
    import resnet50``, grep and IDE navigation find every entry point."""
    import importlib
    import inspect

    for name in ALL_MODELS:
        module = importlib.import_module(f"zoo.{model_info(name).family}")
        factory = getattr(module, name, None)
        assert factory is zoo.registry._REGISTRY[name][0], f"zoo.{model_info(name).family} has no def {name}"
        assert f"\ndef {name}(" in inspect.getsource(module), name
        assert factory.__doc__ and "\n" not in factory.__doc__.strip(), f"{name}: a one-line docstring"

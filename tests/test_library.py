"""Zoo models used by other code, checked on every registered model: torchvision's feature extractor (torch.fx),
TorchScript, torch.export with a free batch size, timm's conventions (num_features, head_hidden_size,
num_classes=0, forward_intermediates, features_only), heads that follow dtype and device, torch.hub, the
published-weights hook (never downloading) and ``python -m zoo.export``. The README's library example runs too.
"""

import dataclasses
import hashlib
import importlib.util
import inspect
import math
import re
from pathlib import Path

import pytest
import torch
import torchvision
from model_checks import built
from test_zoo_contract import NUM_CLASSES, _batch, registry
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

import zoo
import zoo.catalog
import zoo.export
import zoo.pretrained
from zoo import ZooModel, create_model, list_models, split_output
from zoo.registry import IMAGENET_MEAN
from zoo.weights import WeightsError

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL_ONNX = {"lenet5"}  # ONNX export takes ~10 s even for a small model: the others run with -m slow


def _model(name: str, **kwargs) -> ZooModel:
    return built(name, num_classes=NUM_CLASSES, **kwargs).eval()


@pytest.mark.parametrize("name", registry(graph_capture=True))
def test_torchvision_feature_extractor_on_internal_nodes(name):
    model, x = _model(name), _batch(name)
    (_, stem), (_, stage1) = model.group_layout()[:2]  # a module name stands for its last node
    output_node = get_graph_node_names(model)[1][-1]
    extractor = create_feature_extractor(model, {stem[-1]: "stem", stage1[-1]: "stage1", output_node: "logits"})
    with torch.no_grad():
        out, expected = extractor(x), model(x)
        stage_maps = model.forward_intermediates(x, indices=[1], intermediates_only=True)
    assert out["stem"].shape[0] == 2
    torch.testing.assert_close(out["stage1"], stage_maps[0])
    torch.testing.assert_close(out["logits"], expected)


@pytest.mark.parametrize("name", registry(graph_capture=True))
def test_jit_script_and_trace_equal_eager(name):
    model, x = _model(name), _batch(name)
    scripted = torch.jit.script(model)  # saved and loaded back: test_export_cli_torchscript_and_exported...
    traced = torch.jit.trace(model, x)
    other_batch = _batch(name, n=3)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))
        torch.testing.assert_close(scripted(other_batch), model(other_batch))
        torch.testing.assert_close(traced(x), model(x))


@pytest.mark.parametrize("name", registry(graph_capture=True))
def test_torch_export_with_dynamic_batch(name):
    model = _model(name)
    exported = torch.export.export(model, (_batch(name),), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    x = _batch(name, n=3)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", registry())
def test_forward_intermediates_match_feature_info_and_features_only(name):
    model = _model(name)
    x = _batch(name, "default", n=1)
    info = model.feature_info
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
    assert info.module_name()[0] == "stem" and len(maps) == len(info) >= 3
    assert [m.shape[1] for m in maps] == info.channels()
    assert [2 ** round(math.log2(x.shape[-2] / m.shape[-2])) for m in maps] == info.reduction()
    assert maps[-1] is final

    backbone = _model(name, features_only=True, out_indices=(1, -1))  # same seed: the same weights
    with torch.no_grad():
        feats = backbone(x)
    assert backbone.feature_info.channels() == [info.channels()[1], info.channels()[-1]]
    torch.testing.assert_close(feats, [maps[1], maps[-1]])
    assert not any(p.numel() for p in backbone.model.get_classifier().parameters())


@pytest.mark.parametrize("name", registry())
def test_num_features_and_num_classes_zero_follow_timm(name):
    model, x = _model(name), _batch(name)
    with torch.no_grad():
        assert model.forward_features(x).shape[1] == model.num_features
    headless = create_model(name, num_classes=0).eval()
    with torch.no_grad():
        out = headless(x)
        torch.testing.assert_close(out, headless.forward_head(headless.forward_features(x), pre_logits=True))
    assert out.shape == (2, headless.head_hidden_size)
    assert headless.num_classes == headless.info.num_classes == 0 and headless.aux_weights == ()
    assert isinstance(headless.train()(x), torch.Tensor)  # no auxiliary heads left either


def test_jit_script_of_a_model_in_training_mode_drops_its_auxiliary_outputs():
    model = _model("googlenet").train()
    scripted = torch.jit.script(model)
    assert model.training and scripted.training and hasattr(model, "aux1")
    out = scripted(_batch("googlenet"))
    assert isinstance(out, torch.Tensor) and out.shape == (2, NUM_CLASSES)


def test_num_features_differs_from_head_hidden_size_only_with_hidden_fc_layers():
    with torch.device("meta"):  # widths only: no weights to initialise
        models = {n: create_model(n) for n in ("lenet5", "alexnet_cifar", "vgg11", "vgg11_bn_cifar", "resnet18_cifar")}
    widths = {name: (model.num_features, model.head_hidden_size) for name, model in models.items()}
    assert widths == {
        "lenet5": (120, 84),
        "alexnet_cifar": (256, 1024),
        "vgg11": (512, 4096),
        "vgg11_bn_cifar": (512, 512),
        "resnet18_cifar": (512, 512),
    }


@pytest.mark.parametrize("name", registry())
def test_new_head_follows_dtype_and_device(name):
    model = _model(name).double().train()
    model.reset_classifier(5)
    assert model.get_classifier().weight.dtype == torch.float64 and model.info.num_classes == 5
    logits, aux = split_output(model(_batch(name).double()))
    assert logits.dtype == torch.float64 and logits.shape == (2, 5)
    assert all(a.shape == (2, 5) and a.dtype == torch.float64 for a in aux)
    model.to("meta").reset_classifier(3)
    assert model.get_classifier().weight.device.type == "meta"


def test_reset_classifier_takes_timms_global_pool():
    model, x = _model("resnet18_cifar"), _batch("resnet18_cifar")
    model.reset_classifier(0, global_pool="")
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_features(x))
    model.reset_classifier(4, global_pool="avg")
    assert model(x).shape == (2, 4)
    with pytest.raises(ValueError, match="global_pool='max'.*avg"):
        model.reset_classifier(0, global_pool="max")
    with pytest.raises(ValueError, match="hidden layers.*forward_features"):
        _model("lenet5").reset_classifier(0, global_pool="")


@pytest.mark.parametrize(
    "name,in_chans,expected_mean",
    [
        ("resnet18", 1, (sum(IMAGENET_MEAN) / 3,)),
        ("resnet18", 4, IMAGENET_MEAN + IMAGENET_MEAN[:1]),
        ("lenet5", 3, (0.1307,) * 3),
    ],
)
def test_info_mean_and_std_follow_in_chans(name, in_chans, expected_mean):
    info = create_model(name, in_chans=in_chans).info
    assert info.mean == pytest.approx(expected_mean) and len(info.std) == in_chans


def test_inception_v3_transform_input_equals_torchvision():
    reference = torchvision.models.inception_v3(weights=None, transform_input=True, init_weights=False).eval()
    model = create_model("inception_v3", transform_input=True).eval()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=1e-5)


def test_inception_v3_published_weights_get_transform_input(monkeypatch):
    monkeypatch.setattr(zoo.registry, "load_published", lambda model, record: None)
    model = create_model("inception_v3", pretrained=True)
    assert model.transform_input and model.info.mean == IMAGENET_MEAN  # inputs stay ImageNet-normalised


def test_pretrained_offline_names_the_file_to_place(offline_hub):
    cache, attempts = offline_hub
    with pytest.raises(WeightsError, match=re.escape(str(cache / "resnet18-f37072fd.pth"))):
        create_model("resnet18", pretrained=True)
    assert attempts == ["https://download.pytorch.org/models/resnet18-f37072fd.pth"]


def test_pretrained_loads_the_cached_file_and_checks_its_hash(offline_hub, monkeypatch):
    cache, attempts = offline_hub
    cache.mkdir()
    source = _model("resnet18_cifar")
    path = cache / "resnet18_cifar-weights.pth"
    torch.save(source.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    record = dataclasses.replace(
        zoo.catalog.catalogue()["resnet18.tv_in1k"],
        architecture="resnet18_cifar",
        file=path.name,
        url="https://example.invalid/resnet18_cifar-weights.pth",
        sha256=digest[:8],
        class_names=tuple(map(str, range(NUM_CLASSES))),
    )
    monkeypatch.setitem(zoo.catalog.catalogue(), record.name, record)
    model = create_model("resnet18_cifar", pretrained=True)
    assert model.num_classes == NUM_CLASSES and model.weights == record  # the class count is the weights'
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))
    assert attempts == []

    monkeypatch.setitem(zoo.catalog.catalogue(), record.name, dataclasses.replace(record, sha256="00000000"))
    with pytest.raises(WeightsError, match="SHA-256"):
        create_model("resnet18_cifar", pretrained=True)
    with pytest.raises(WeightsError, match="pretrained=True: plain56 has no published weights; models with weights"):
        create_model("plain56", pretrained=True)


def test_torch_hub_has_every_model():
    spec = importlib.util.spec_from_file_location("hubconf", REPO_ROOT / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert all(callable(getattr(hubconf, name, None)) for name in list_models())
    model = torch.hub.load(str(REPO_ROOT), "resnet18_cifar", source="local", num_classes=3)
    assert isinstance(model, ZooModel) and model.num_classes == 3


def test_create_model_documents_every_argument():
    doc = create_model.__doc__
    params = [p for p in inspect.signature(create_model).parameters if p != "kwargs"]
    assert all(f"{p}:" in doc for p in params) and "glob" in doc and "FeatureListNet" in doc


def test_export_cli_torchscript_and_exported_with_a_checkpoint(tmp_path, capsys):
    checkpoint = tmp_path / "lenet5.pth"
    torch.save(create_model("lenet5", num_classes=4).state_dict(), checkpoint)
    for fmt in ("torchscript", "exported"):
        out = tmp_path / f"lenet5.{fmt}"
        rc = zoo.export.main(
            ["lenet5", "--format", fmt, "--checkpoint", str(checkpoint), "--dynamic-batch", "--output", str(out)]
        )
        assert rc == 0 and out.is_file()
        assert "matches PyTorch on 2 batch(es)" in capsys.readouterr().out


def test_export_cli_errors_are_one_line(capsys):
    assert zoo.export.main(["resnet-18", "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'resnet-18'") and err.count("\n") == 1


@pytest.mark.parametrize(
    "name", [n if n in SMALL_ONNX else pytest.param(n, marks=pytest.mark.slow) for n in list_models()]
)
def test_onnx_export_matches_pytorch(name, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    out = tmp_path / f"{name}.onnx"
    assert zoo.export.main([name, "--format", "onnx", "--dynamic-batch", "--output", str(out)]) == 0
    assert "matches PyTorch on 2 batch(es)" in capsys.readouterr().out


def test_readme_library_example_runs():
    readme = (REPO_ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- tested: test_library.py -->\n```python\n(.*?)```", readme, re.S).group(1)
    exec(compile(snippet, "README.md", "exec"), {})


def test_export_cli_refuses_an_existing_output_unless_overwrite(tmp_path, capsys):
    checkpoint = tmp_path / "lenet5.pth"
    torch.save(create_model("lenet5").state_dict(), checkpoint)
    before = checkpoint.read_bytes()
    args = ["lenet5", "--format", "torchscript", "--checkpoint", str(checkpoint), "--output", str(checkpoint)]
    assert zoo.export.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --output {checkpoint} exists") and "--overwrite" in err and err.count("\n") == 1
    assert checkpoint.read_bytes() == before  # its own checkpoint survives
    out = tmp_path / "lenet5.pt"
    out.write_bytes(b"old")
    assert zoo.export.main([*args[:-1], str(out), "--overwrite"]) == 0 and out.read_bytes() != b"old"

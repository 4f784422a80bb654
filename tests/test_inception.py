"""GoogLeNet and Inception v3: paper structure, auxiliary heads, torchvision equivalence."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from zoo import ClassifierOutput, count_parameters, create_model
from zoo.googlenet import GOOGLENET_BLOCKS, GoogLeNet
from zoo.inception_blocks import AtLeast
from zoo.inception_v3 import InceptionV3

# Table 1 "output size" depth column of each inception module.
GOOGLENET_DEPTHS = {
    "inception3a": 256,
    "inception3b": 480,
    "inception4a": 512,
    "inception4b": 512,
    "inception4c": 512,
    "inception4d": 528,
    "inception4e": 832,
    "inception5a": 832,
    "inception5b": 1024,
}


def _main_params(model: nn.Module, suffix: str = "") -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("aux") and n.endswith(suffix))


# ----- GoogLeNet -----


def test_googlenet_returns_aux_logits_only_in_training():
    torch.manual_seed(0)
    model = create_model("googlenet", num_classes=7)
    assert model.aux_weights == (0.3, 0.3)
    x = torch.randn(2, 3, 64, 64)
    out = model.train()(x)
    assert isinstance(out, ClassifierOutput)
    assert out.logits.shape == (2, 7)
    assert len(out.aux_logits) == 2 and all(a.shape == (2, 7) for a in out.aux_logits)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor) and not isinstance(out, ClassifierOutput)
    assert out.shape == (2, 7)


def test_googlenet_follows_table_1():
    model = create_model("googlenet")
    for name, (n1, n3r, n3, n5r, n5, pool_proj) in GOOGLENET_BLOCKS.items():
        block = model.get_submodule(name)
        assert block.out_channels == GOOGLENET_DEPTHS[name] == n1 + n3 + n5 + pool_proj
        assert block.branch5x5_1.conv.weight.shape == (n5r, block.branch5x5_1.conv.in_channels, 1, 1)
        assert block.branch5x5_2.conv.weight.shape == (n5, n5r, 5, 5)  # a true 5x5, not torchvision's 3x3
        assert block.branch3x3_2.conv.weight.shape == (n3, n3r, 3, 3)
        assert isinstance(block.branch1x1.bn, nn.Identity)  # no batch norm in the paper's network
    lrn = model.lrn1
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 5e-4, 0.75, 2.0)


def test_googlenet_grid_at_224_matches_the_paper():
    model = create_model("googlenet").train()  # training mode runs the auxiliary heads too
    sizes = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: sizes.__setitem__(n, o.shape[-1]))
        for n in ("conv1", "maxpool1", "maxpool2", "inception4a", "inception5b", "aux1.pool")
    ]
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    # 4x4 after the aux 5x5/3 pool: the adaptive pool behind it is the identity at 224, as in the paper
    assert sizes == {"conv1": 112, "maxpool1": 56, "maxpool2": 28, "inception4a": 14, "inception5b": 7, "aux1.pool": 4}


def test_googlenet_parameter_counts():
    model = create_model("googlenet")
    assert count_parameters(model) == 13_378_280
    assert _main_params(model) == 6_998_552
    # Table 1 counts weights in units of 1024 and sums to 6797.7K (paper: "about 6.8M").
    weights_k = _main_params(model, "weight") / 1024
    assert weights_k == pytest.approx(6797.7, rel=0.01)
    assert count_parameters(create_model("googlenet", aux=False)) == 6_998_552


def test_googlenet_reset_classifier_replaces_aux_heads():
    model = create_model("googlenet", num_classes=7)
    hidden = model.aux1.fc1.weight
    model.reset_classifier(5)
    assert model.fc.out_features == model.aux1.fc.out_features == model.aux2.fc.out_features == 5
    assert model.aux1.fc1.weight is hidden  # only the final linear layer is new
    out = model.train()(torch.randn(2, 3, 40, 40))
    assert out.logits.shape == (2, 5) and all(a.shape == (2, 5) for a in out.aux_logits)
    head = {id(p) for _, p in model.parameter_groups()["head"]}
    assert {id(p) for p in model.aux2.parameters()} <= head

    model.reset_classifier(0)
    assert model.aux_weights == () and not hasattr(model, "aux1")
    out = model(torch.randn(2, 3, 40, 40))  # still in training mode: no aux heads left, plain features
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1024)
    assert type(model).aux_weights == (0.3, 0.3)  # other instances unaffected


def test_googlenet_minimum_input_is_the_true_minimum():
    model = GoogLeNet(num_classes=3).train()  # built directly: no size check, the layers themselves decide
    out = model(torch.randn(2, 3, 31, 31))
    assert len(out.aux_logits) == 2
    with pytest.raises(RuntimeError):
        model(torch.randn(2, 3, 30, 30))


@pytest.mark.parametrize("fx", [False, True])
def test_at_least_is_identity_on_big_maps_and_repeats_small_ones(fx):
    at_least = torch.fx.symbolic_trace(AtLeast(5)) if fx else AtLeast(5)  # a leaf for torch.fx feature extraction
    x = torch.randn(1, 2, 7, 6)
    assert torch.equal(at_least(x), x)
    small = torch.randn(1, 2, 1, 1)
    assert torch.equal(at_least(small), small.expand(1, 2, 5, 5))


def test_googlenet_cifar():
    torch.manual_seed(0)
    model = create_model("googlenet_cifar")
    assert model.aux_weights == () and model.info.input_size == (3, 32, 32)
    assert model.conv1.conv.kernel_size == (3, 3) and model.conv1.conv.out_channels == 192
    assert isinstance(model.inception4c.branch5x5_2.bn, nn.BatchNorm2d)
    assert model.inception4c.branch5x5_2.conv.kernel_size == (5, 5)
    assert count_parameters(model) == 5_871_914
    x = torch.randn(2, 3, 32, 32)
    out = model.train()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)  # no aux heads even in training
    model.eval()
    with torch.no_grad():
        assert model.forward_features(x).shape == (2, 1024, 8, 8)  # pools after 3b and 4e: 32 -> 16 -> 8


# ----- Inception v3 -----


def _torchvision_pair(num_classes: int = 1000) -> tuple[InceptionV3, nn.Module]:
    torch.manual_seed(0)
    reference = torchvision.models.inception_v3(
        weights=None, aux_logits=True, init_weights=True, transform_input=False, num_classes=num_classes
    )
    model = create_model("inception_v3", num_classes=num_classes)
    model.load_state_dict(reference.state_dict(), strict=True)
    return model, reference


@pytest.mark.integration
def test_inception_v3_state_dict_keys_and_count_match_torchvision():
    model, reference = _torchvision_pair()
    assert model.state_dict().keys() == reference.state_dict().keys()
    assert all(model.state_dict()[k].shape == v.shape for k, v in reference.state_dict().items())
    assert count_parameters(model) == count_parameters(reference) == 27_161_264
    assert count_parameters(model) - count_parameters(model.AuxLogits) == 23_834_568
    assert model.aux_weights == (0.4,)


@pytest.mark.parametrize("size", [75, 139])
def test_inception_v3_eval_equals_torchvision(size):
    model, reference = _torchvision_pair(num_classes=11)
    model.eval()
    reference.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=1e-5)


def test_inception_v3_trains_at_its_minimum_input():
    model = create_model("inception_v3", num_classes=4).train()
    out = model(torch.randn(2, 3, 75, 75))  # torchvision's own aux head needs 299 here
    assert out.logits.shape == (2, 4) and [a.shape for a in out.aux_logits] == [(2, 4)]
    model.reset_classifier(6)
    assert model.AuxLogits.fc.out_features == 6
    model.reset_classifier(0)
    assert "AuxLogits" not in dict(model.named_children()) and model.aux_weights == ()


@pytest.mark.slow
def test_inception_v3_equals_torchvision_at_299_in_both_modes():
    model, reference = _torchvision_pair()
    x = torch.randn(2, 3, 299, 299)
    model.train()
    reference.train()
    torch.manual_seed(1)
    expected = reference(x)
    torch.manual_seed(1)  # same dropout masks
    out = model(x)
    torch.testing.assert_close(out.logits, expected.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(out.aux_logits[0], expected.aux_logits, rtol=0, atol=1e-5)
    model.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=1e-5)

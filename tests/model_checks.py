"""Checks shared by the per-family tests: the paper's layer table, and torchvision equivalence (same state_dict
layout, same outputs from the same weights); ``built``, the models the interface checks run on."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torchvision

from zoo import count_parameters, create_model
from zoo.base import ZooModel

KEPT_PARAMETERS = 30_000_000  # models up to this size stay in memory for the session (a VGG's 133M would not)
_kept: dict[tuple, ZooModel] = {}  # (name, arguments) -> the seeded model, never handed out itself


def built(name: str, **kwargs) -> ZooModel:
    """What ``torch.manual_seed(0); create_model(name, **kwargs)`` returns, as a fresh copy: each model is initialised
    once per session and copied for each check that runs on it (Inception v3's truncated-normal initialisation alone
    takes seconds, a copy a tenth of that). Checks of ``create_model`` itself call it directly."""
    key = (name, tuple(sorted(kwargs.items())))
    if key in _kept:
        return copy.deepcopy(_kept[key])
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    if count_parameters(model) <= KEPT_PARAMETERS:
        _kept[key] = copy.deepcopy(model)
    return model


def assert_state_dict_layout_equals_torchvision(name: str) -> None:
    with torch.device("meta"):
        ours = create_model(name).state_dict()
        theirs = torchvision.models.get_model(name).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def assert_torchvision_weights_give_identical_outputs(name: str) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.get_model(name).eval()
    for m in reference.modules():  # fresh BN is the identity in eval mode; give it non-trivial statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    with torch.device("meta"):  # no weights of its own, so only the loaded ones can make the outputs agree
        model = create_model(name).eval()
    model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, actual = reference(x), model(x)
    diff = (actual - expected).abs().max().item()
    print(f"{name}: max |output| {expected.abs().max().item():.3g}, max abs diff {diff:.3g}")
    assert expected.abs().max() > 1e-2
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


def stage_output_shapes(model: nn.Module, size: int) -> dict[str, tuple[int, ...]]:
    """{group: output shape without the batch dimension} of each group's last module, for one eval-mode image."""
    shapes = {}

    def record(group):
        def hook(module, args, out):
            shapes[group] = tuple(out.shape[1:])

        return hook

    handles = [
        model.get_submodule(paths[-1]).register_forward_hook(record(group)) for group, paths in model.group_layout()
    ]
    with torch.no_grad():
        model.eval()(torch.randn(1, model.in_chans, size, size))
    for handle in handles:
        handle.remove()
    return shapes

"""Checks shared by the per-family tests: the paper's layer table, and torchvision equivalence (same state_dict
layout, same outputs from the same weights)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from zoo import create_model


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

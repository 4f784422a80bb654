"""The GPU defaults checked where CI can run them: their decisions with a stand-in device, and the numerical
settings (bf16-mixed, channels_last, compile) trained on the CPU."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from zootrain.hardware import gpu_precision
from zootrain.module import ZooClassifier
from zootrain.run import train

SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}


def _module_on(device: str, gradient_clip_val) -> ZooClassifier:
    module = ZooClassifier(model={"name": "lenet5", "num_classes": 10, "in_chans": 1}, optimizer=SGD)
    module._device = torch.device(device)
    module._trainer = SimpleNamespace(gradient_clip_val=gradient_clip_val)
    return module


@pytest.mark.parametrize("device,clip,fused", [("cuda:0", None, True), ("cuda:0", 1.0, False), ("cpu", None, False)])
def test_fused_optimizers_only_on_cuda_and_never_with_gradient_clipping(device, clip, fused):
    # Lightning refuses to clip gradients for optimizers that unscale them themselves (the fused kernels)
    assert _module_on(device, clip)._fused_kwargs(SGD) == ({"fused": True} if fused else {})


@pytest.mark.parametrize("bf16,expected", [(True, "bf16-mixed"), (False, "16-mixed")])
def test_mixed_precision_follows_what_the_gpu_supports(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    assert gpu_precision() == expected


def test_the_gpu_numerics_train_on_the_cpu(make_cfg):
    result = train(
        make_cfg(
            "trainer.precision=bf16-mixed",
            "channels_last=true",
            "trainer.max_epochs=3",
            "trainer.gradient_clip_val=1.0",
        )
    )
    saved = torch.load(result["last_model_path"], weights_only=True)["hyper_parameters"]
    assert saved["channels_last"] is True and result["val/acc"] > 0.3


@pytest.mark.slow
def test_compiled_training_runs_on_the_cpu(make_cfg):
    result = train(make_cfg("compile=true", "trainer.max_epochs=1"))
    assert result["train/loss_epoch"] is not None

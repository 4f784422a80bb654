"""The GPU defaults checked where CI can run them: their decisions with a stand-in device, and the numerical
settings (bf16-mixed, channels_last, compile) trained on the CPU."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from zootrain.hardware import gpu_precision
from zootrain.module import FINITE_CHECK_EVERY, ZooClassifier
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


def test_a_gpu_loss_is_read_for_divergence_every_so_often_and_before_each_epochs_checkpoints():
    # reading a GPU tensor on the host waits for the GPU; a CPU's loss costs nothing to read, so it is read every step
    module = _module_on("cuda:0", None)
    module._trainer.num_training_batches = 120
    on_gpu = torch.tensor(float("nan"), device="meta")  # a tensor that is not on the CPU
    checked = [i for i in range(120) if module._check_finite_now(on_gpu, i)]
    assert checked == [0, FINITE_CHECK_EVERY, 2 * FINITE_CHECK_EVERY, 119]
    assert all(module._check_finite_now(torch.tensor(1.0), i) for i in range(120))


@pytest.mark.parametrize("bf16,expected", [(True, "bf16-mixed"), (False, "16-mixed")])
def test_mixed_precision_follows_what_the_gpu_supports(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    assert gpu_precision() == expected


@pytest.mark.integration
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

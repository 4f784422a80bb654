"""The GPU fast path: bf16, channels_last, torch.compile, fused optimizers, batches made on the GPU.
Skipped without CUDA."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from zootrain.data import ImageClassificationData
from zootrain.run import train

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _gpu_cfg(make_cfg, *overrides):
    return make_cfg("trainer.accelerator=gpu", "dataset.batch_size=64", "trainer.max_epochs=2", *overrides)


def test_auto_settings_train_in_bf16_with_channels_last_and_fused_sgd(make_cfg):
    result = train(_gpu_cfg(make_cfg, "model=resnet18", "trainer.accelerator=auto"))  # auto: the GPU's defaults
    cfg = torch.load(result["last_model_path"], weights_only=True)["hyper_parameters"]
    assert cfg["channels_last"] is True
    assert result["val/acc"] > 0.5


@pytest.mark.parametrize("model", ["lenet5", "resnet18", "googlenet", "densenet_bc100_cifar"])
def test_compiled_training_runs(make_cfg, model):
    result = train(_gpu_cfg(make_cfg, f"model={model}", "compile=true", "trainer.max_epochs=1"))
    assert torch.isfinite(torch.tensor(result["train/loss_epoch"]))


def test_batched_loader_batches_live_on_the_gpu_and_match_the_per_image_path():
    kwargs = dict(name="digits", batch_size=128, augment=False, val_fraction=0.15)
    resident = ImageClassificationData(loader="batched", **kwargs)
    ordinary = ImageClassificationData(loader="per_image", **kwargs)
    for dm in (resident, ordinary):
        dm.set_model_input(32)
        dm.setup("fit")
    resident.trainer = SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device("cuda")), global_rank=0, world_size=1
    )  # what the datamodule reads of a Trainer
    x_gpu, y_gpu = next(iter(resident.val_dataloader()))
    x_cpu, y_cpu = next(iter(ordinary.val_dataloader()))
    assert x_gpu.is_cuda and y_gpu.is_cuda
    torch.testing.assert_close(x_gpu.cpu(), x_cpu, atol=2e-2, rtol=0)
    assert torch.equal(y_gpu.cpu(), y_cpu)


def test_batched_loader_training_reaches_the_same_accuracy(make_cfg):
    plain = train(_gpu_cfg(make_cfg, "trainer.max_epochs=15", "dataset.loader=per_image", run="plain"))
    resident = train(_gpu_cfg(make_cfg, "trainer.max_epochs=15", "dataset.loader=batched", run="resident"))
    assert abs(plain["val/acc"] - resident["val/acc"]) < 0.03

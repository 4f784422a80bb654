"""Loading a file never runs code from it, and settings read from a file never become code."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from zootrain.errors import ConfigError
from zootrain.module import ZooClassifier


def test_a_checkpoints_optimizer_target_is_never_called(make_cfg, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    module = ZooClassifier(
        model={"name": "lenet5", "num_classes": 10, "in_chans": 1},
        optimizer={"_target_": "os.remove", "_partial_": True, "lr": 0.1, "path": str(victim)},
    )
    path = tmp_path / "planted.ckpt"
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path, weights_only=False)

    loaded = ZooClassifier.load_from_checkpoint(path, weights_only=True)
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(4, 1, 32, 32), torch.zeros(4, dtype=torch.long)), batch_size=2
    )
    fit = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(ConfigError, match="os.remove.*not an optimizer"):
        fit.fit(loaded, train_dataloaders=data)
    assert victim.read_text() == "keep me"

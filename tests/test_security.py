"""Loading a file never runs code from it, settings read from a file never become code, and paths read from a file
never decide where the program writes."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from conftest import compose_config

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


def test_a_checkpoints_stored_data_paths_are_never_written_to(tmp_path):
    from test_data import write_fake_cifar_zip

    from zootrain.run import evaluate, train

    archive, data_dir, forbidden = tmp_path / "cifar.zip", tmp_path / "data", tmp_path / "forbidden"
    write_fake_cifar_zip(archive)
    quiet = ["trainer.accelerator=cpu", "trainer.enable_model_summary=false", "callbacks.progress_bar.refresh_rate=0"]
    where = [f"dataset.zip_path={archive}", f"paths.data_dir={data_dir}"]
    trained = train(
        compose_config(
            "train",
            [
                *quiet,
                *where,
                "dataset=cifar10",
                "dataset.batch_size=8",
                "dataset.val_fraction=0.34",
                "trainer.max_epochs=1",
            ],
            tmp_path / "train",
        )
    )
    ckpt = torch.load(trained["last_model_path"], weights_only=True)
    ckpt["datamodule_hyper_parameters"].update(  # a checkpoint from elsewhere, or edited
        root=str(forbidden / "data"),
        cache_dir=str(forbidden / "cache"),
        zip_path=str(forbidden / "x.zip"),
        download=True,
    )
    planted = tmp_path / "planted.ckpt"
    torch.save(ckpt, planted)
    metrics = evaluate(
        compose_config("evaluate", ["trainer.accelerator=cpu", f"ckpt_path={planted}", *where], tmp_path / "eval")
    )
    assert metrics["num_samples"] > 0
    assert not forbidden.exists()

"""The files docs/reliability.md's placeholders name, made in a folder (shared by tests/test_bad_input.py and
benchmarks/bad_inputs.py)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torchvision


class Evil:
    """Unpickling this would run code: weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("this must never run",))


def make_bad_files(root: Path) -> dict[str, Path]:
    """Every placeholder but the two that need a training run (``lenet5_ckpt``, ``finished``)."""
    files = {
        "missing": root / "no_such.ckpt",
        "text": root / "notes.txt",
        "file": root / "plain_file",
        "evil": root / "evil.ckpt",
        "tv_resnet18": root / "resnet18.pth",
        "tv_densenet121": root / "densenet.pth",
        "foreign": root / "foreign.ckpt",
    }
    files["text"].write_text("not a checkpoint\n" * 50)
    files["file"].write_text("x")
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Evil()}}, files["evil"])
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), files["tv_resnet18"])
    torch.save(torchvision.models.densenet121(weights=None).state_dict(), files["tv_densenet121"])
    torch.save(
        {
            "state_dict": {"layer.weight": torch.zeros(2)},
            "hyper_parameters": {"lr": 0.1},
            "pytorch-lightning_version": L.__version__,
        },
        files["foreign"],
    )
    return files

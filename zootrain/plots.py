"""Pictures people would rather look at than read: learning curves, confusion matrices.

The confusion and per-class pictures are drawn here rather than with torchmetrics' ``.plot()``
(``MulticlassConfusionMatrix.plot``, ``MulticlassAccuracy.plot``; torchmetrics 1.9), which does not give what these
give: its confusion matrix colours and writes one value per cell (counts, or with ``normalize="true"`` rates, never
rate colours with count text), scales the colours to the matrix instead of 0..1, has no colour bar, and writes text
in 15-point type in every cell, unreadable beyond about 20 classes; its per-class accuracy is one dot per class with
the x axis hidden and the class names in a legend (100 entries for CIFAR-100) instead of bars named on the axis.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Train/val loss and accuracy per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "acc")):
        for stage, style in (("train", "-o"), ("val", "-s")):
            points = [(h["epoch"], h[f"{stage}/{metric}"]) for h in history if f"{stage}/{metric}" in h]
            if points:
                ax.plot(*zip(*points), style, label=stage, markersize=3)
        ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "cross-entropy", title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(matrix: torch.Tensor, class_names: list[str], path: Path, title: str) -> None:
    fig = confusion_figure(matrix, class_names, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_figure(matrix: torch.Tensor, class_names: list[str], title: str) -> plt.Figure:
    """Row-normalised confusion matrix (rows: true class), with counts written in when the matrix is small."""
    counts = matrix.cpu().float()
    rates = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)
    n = len(class_names)
    size = max(5.0, 0.45 * n)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    if n <= 20:
        ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), class_names, fontsize=8)
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        int(counts[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black",
                    )
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return fig


def plot_per_class(accuracy: torch.Tensor, class_names: list[str], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(class_names)), 3.5))
    ax.bar(range(len(class_names)), accuracy.cpu().numpy(), color="tab:blue")
    ax.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right", fontsize=8)
    ax.set(ylim=(0, 1), ylabel="accuracy", title=title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

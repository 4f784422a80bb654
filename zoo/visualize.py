"""Seeing inside a zoo model: stage activations, Grad-CAM, first-layer filters, top-activating patches.

    from zoo import create_model, visualize
    model = create_model("resnet18_cifar", num_classes=10)
    maps = visualize.stage_activations(model, x)             # {"stem": (C, H, W), "stage1": ..., ...}
    cam = visualize.grad_cam(model, x, target=3)             # (H, W) in [0, 1], the input's size
    visualize.cam_figure(visualize.to_display(x[0], mean, std), [("class 3", cam.map)]).savefig("cam.png")

Functions return tensors or matplotlib ``Figure`` objects (no pyplot state: they work in notebooks and on servers
alike). Stages are the model's ``group_layout()`` groups; a group's activation is the output of its last module.
Pure PyTorch + matplotlib: imported on demand (``zoo`` itself does not import it, so ``import zoo`` stays light).

Grad-CAM and Grad-CAM++ are written here (one forward hook and ``torch.autograd.grad``) rather than taken from
Captum (which has no Grad-CAM++) or the ``grad-cam`` package (which pulls OpenCV, SciPy and scikit-learn into a
package that otherwise needs only PyTorch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from .summary import summarize

DPI = 100
PANEL_INCHES = 2.0  # side of one picture panel (input, CAM overlay, misclassified example)
FIGURE_WIDTH_INCHES = 8.0  # width of a tiled picture (feature maps, filters, patches)
FILTERS_HEIGHT_INCHES = 3.4  # three square panels side by side, and the titles
MIN_FILTER_PIXELS = 24  # kernels are upsampled (nearest) to at least this many pixels a side


class CamResult(NamedTuple):
    map: Tensor  # (H, W) in [0, 1], the input's spatial size
    target: int  # the class it explains
    probabilities: Tensor  # (num_classes,) softmax of the model's main output


# ----- which modules the stages end in -----
def stage_modules(model: nn.Module) -> list[tuple[str, str]]:
    """(group, dotted path of the group's last module) for every group but the classifier head."""
    return [(group, paths[-1]) for group, paths in model.group_layout() if group != "head"]


@contextmanager
def _captured(model: nn.Module, paths: Sequence[str]) -> Iterator[dict[str, Tensor]]:
    """Outputs of the modules at ``paths`` during the forward passes inside the block."""
    outputs: dict[str, Tensor] = {}

    def keep(path: str):
        def hook(_module, _inputs, output) -> None:
            outputs[path] = output

        return hook

    handles = [model.get_submodule(p).register_forward_hook(keep(p)) for p in paths]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (main head only, BN running statistics), restoring the caller's mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _main_logits(output) -> Tensor:
    return output if isinstance(output, Tensor) else output[0]


def stage_activations(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Activation after each stage for one image ``x`` (1, C, H, W): {group: (channels, h, w)}, stages with a
    spatial map only (not 1x1 maps such as LeNet's C5 nor fully connected groups such as VGG's ``fc``)."""
    stages = stage_modules(model)
    with _eval_mode(model), torch.no_grad(), _captured(model, [p for _, p in stages]) as out:
        model(x)
    return {group: out[path][0] for group, path in stages if out[path].ndim == 4 and out[path][0, 0].numel() > 1}


def cam_stage(model: nn.Module, x: Tensor) -> str:
    """The last stage whose output is still a spatial map for ``x``: where Grad-CAM looks."""
    spatial = list(stage_activations(model, x))
    if not spatial:
        raise ValueError(f"no stage of the model keeps a spatial map for an input of {tuple(x.shape[-2:])}")
    return spatial[-1]


def _stage_path(model: nn.Module, group: str) -> str:
    paths = dict(stage_modules(model))
    if group not in paths:
        raise ValueError(f"unknown stage {group!r}; this model has {', '.join(paths)}")
    return paths[group]


# ----- class activation maps -----
def grad_cam(
    model: nn.Module, x: Tensor, target: int | None = None, stage: str | None = None, plus: bool = False
) -> CamResult:
    """Grad-CAM (Selvaraju et al. 2017), or Grad-CAM++ (Chattopadhyay et al. 2018) with ``plus=True``, of the main
    output's class ``target`` (default: the predicted class) at ``stage`` (default: ``cam_stage``), for one image."""
    stage = stage or cam_stage(model, x)
    path = _stage_path(model, stage)
    x = x.detach().requires_grad_(True)  # the graph reaches the stage even when every parameter is frozen
    with _eval_mode(model), torch.enable_grad(), _captured(model, [path]) as out:
        logits = _main_logits(model(x))[0]
    num_classes = logits.shape[-1]
    target = int(logits.argmax()) if target is None else target
    if not 0 <= target < num_classes:
        raise ValueError(
            f"class index {target} is out of range: the model has {num_classes} classes (0..{num_classes - 1})"
        )
    activation = out[path]
    grads = torch.autograd.grad(logits[target], activation)[0][0]
    activation = activation.detach()[0]
    if plus:  # the paper's closed-form alphas for an exponentiated class score
        g2 = grads.pow(2)
        denominator = 2 * g2 + activation.sum(dim=(1, 2), keepdim=True) * grads.pow(3)
        alphas = g2 / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        weights = (alphas * grads.clamp_min(0)).sum(dim=(1, 2))
    else:
        weights = grads.mean(dim=(1, 2))
    cam = F.relu((weights[:, None, None] * activation).sum(0))
    cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam / cam.max() if cam.max() > 0 else cam
    return CamResult(cam, target, logits.detach().softmax(-1))


# ----- filters -----
def _kernel_images(weight: Tensor) -> Tensor:
    """(out, in, k, k) kernels -> (out, k, k, 3 or 1) in [0, 1], zero at 0.5, each kernel scaled to its own range:
    RGB for 3 input channels, the channel mean otherwise."""
    w = weight.detach().float().cpu()
    w = w if w.shape[1] == 3 else w.mean(dim=1, keepdim=True)
    scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (w / scale / 2 + 0.5).permute(0, 2, 3, 1)


def _tile(images: Tensor, columns: int, pad: int = 1, fill: float = 1.0) -> Tensor:
    """(N, h, w, c) -> one (rows*(h+pad)-pad, columns*(w+pad)-pad, c) mosaic."""
    n, h, w, c = images.shape
    rows = math.ceil(n / columns)
    canvas = torch.full((rows * (h + pad) - pad, columns * (w + pad) - pad, c), fill)
    for i, img in enumerate(images):
        r, col = divmod(i, columns)
        canvas[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = img
    return canvas


def filter_grid(weight: Tensor, max_filters: int = 64) -> Tensor:
    """First-layer kernels as one (H, W, 3|1) image in [0, 1], upsampled so a 3x3 kernel is visible."""
    images = _kernel_images(weight[:max_filters])
    factor = math.ceil(MIN_FILTER_PIXELS / images.shape[1])
    images = images.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
    return _tile(images, math.ceil(math.sqrt(len(images))), pad=2)


def _show(ax, image: Tensor, **kwargs) -> None:
    image = image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image
    ax.imshow(image.numpy(), cmap="gray" if image.ndim == 2 else None, interpolation="nearest", **kwargs)
    ax.axis("off")


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI)


def filters_figure(before: Tensor, after: Tensor, title: str) -> Figure:
    """First-layer filters before and after training and what training changed, side by side (each kernel scaled to
    its own range; grey is 0)."""
    fig = _figure(FIGURE_WIDTH_INCHES, FILTERS_HEIGHT_INCHES)
    shape = f"{len(before)} kernels of {'x'.join(map(str, before.shape[1:]))}"
    panels = ((before, f"before: {shape}"), (after, "after"), (after - before, "change (after - before)"))
    for ax, (weight, label) in zip(fig.subplots(1, 3), panels):
        _show(ax, filter_grid(weight))
        ax.set_title(label, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


# ----- feature maps -----
def to_display(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """A normalised (C, H, W) image back to (H, W, C) in [0, 1] for showing."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (x.detach().float().cpu() * std_t + mean_t).clamp(0, 1).permute(1, 2, 0)


def _normalised_maps(activation: Tensor) -> Tensor:
    a = activation.detach().float().cpu()
    lo, hi = a.amin(dim=(1, 2), keepdim=True), a.amax(dim=(1, 2), keepdim=True)
    return ((a - lo) / (hi - lo).clamp_min(1e-12)).unsqueeze(-1)


def feature_map_figure(image: Tensor, activation: Tensor, title: str, max_maps: int = 32) -> Figure:
    """The input (H, W, C in [0, 1]) beside the first ``max_maps`` channels of one stage's (C, h, w) activation,
    the channels with the strongest mean response first, each scaled to its own range."""
    order = activation.mean(dim=(1, 2)).argsort(descending=True)[:max_maps]
    # NaN between and after the maps: drawn transparent, so the gaps stay white whatever the colour map
    mosaic = _tile(_normalised_maps(activation[order]), math.ceil(math.sqrt(len(order))), fill=math.nan)
    fig = _figure(FIGURE_WIDTH_INCHES, FIGURE_WIDTH_INCHES / 2 + 0.5)
    left, right = fig.subplots(1, 2)
    _show(left, image)
    left.set_title("input", fontsize=9)
    right.imshow(mosaic.squeeze(-1).numpy(), cmap="viridis", interpolation="nearest")
    right.axis("off")
    right.set_title(
        f"{len(order)} of {activation.shape[0]} maps, {activation.shape[1]}x{activation.shape[2]}", fontsize=9
    )
    fig.suptitle(title, fontsize=10)
    return fig


# ----- class activation map overlays -----
def cam_figure(image: Tensor, cams: Sequence[tuple[str, Tensor]], title: str = "") -> Figure:
    """The input, then each (label, (H, W) map) overlaid on it as a heat map."""
    fig = _figure(PANEL_INCHES * (1 + len(cams)), PANEL_INCHES + 0.5)
    axes = fig.subplots(1, 1 + len(cams), squeeze=False)[0]
    _show(axes[0], image)
    axes[0].set_title("input", fontsize=8)
    for ax, (label, cam) in zip(axes[1:], cams):
        _show(ax, image)
        ax.imshow(cam.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def image_grid_figure(images: Sequence[Tensor], captions: Sequence[str], title: str, columns: int = 8) -> Figure:
    """Images (H, W, C in [0, 1]) with a caption each, e.g. the most confident mistakes."""
    rows = max(1, math.ceil(len(images) / columns))
    fig = _figure(PANEL_INCHES * 0.75 * columns, PANEL_INCHES * 0.75 * rows + 0.5)
    for ax in fig.subplots(rows, columns, squeeze=False).flat:
        ax.axis("off")
    for ax, image, caption in zip(fig.axes, images, captions):
        _show(ax, image)
        ax.set_title(caption, fontsize=6)
    fig.suptitle(title, fontsize=9)
    return fig


# ----- a deeper layer's view: the validation patches that excite its channels most -----
def _receptive_field(model: nn.Module, path: str, input_size: Sequence[int]) -> int | None:
    rows = [r for r in summarize(model, input_size) if r.name == path or r.name.startswith(path + ".")]
    field = rows[-1].receptive_field if rows else None
    return None if field is None else max(field)


def patch_stage(model: nn.Module, input_size: Sequence[int]) -> str:
    """The deepest stage whose receptive field is at most half the image side (at least the second stage): deep
    enough to show more than edges, shallow enough that a patch is a part of the image rather than all of it."""
    stages = stage_modules(model)
    side = min(input_size[-2:])
    fitting = [
        group
        for group, path in stages[1:]
        if (rf := _receptive_field(model, path, input_size)) is not None and rf <= side // 2
    ]
    return fitting[-1] if fitting else stages[1][0]


def top_activating_patches(
    model: nn.Module, images: Tensor, stage: str | None = None, channels: int = 12, per_channel: int = 8
) -> tuple[str, Tensor]:
    """For the ``channels`` most strongly responding channels of ``stage`` (default ``patch_stage``), the
    ``per_channel`` input patches (from distinct images of the (N, C, H, W) batch) where each responds most; the
    patch side is the stage's receptive field. Returns (stage, (channels, per_channel, C, p, p) normalised crops)."""
    stage = stage or patch_stage(model, tuple(images.shape[1:]))
    path = _stage_path(model, stage)
    with _eval_mode(model), torch.no_grad(), _captured(model, [path]) as out:
        model(images)
    act = out[path]  # (N, K, h, w)
    n, _, h, w = act.shape
    peak, where = act.flatten(2).max(dim=2)  # per image and channel
    chosen = peak.max(dim=0).values.argsort(descending=True)[:channels]
    side = min(images.shape[-2:])
    patch = min(side, _receptive_field(model, path, tuple(images.shape[1:])) or side)
    half = patch // 2
    padded = F.pad(images, (half, half, half, half))  # zeros: the mean colour after normalisation
    crops = []
    for c in chosen:
        best = peak[:, c].argsort(descending=True)[: min(per_channel, n)]
        for i in best:
            row, col = divmod(int(where[i, c]), w)
            cy = int((row + 0.5) * images.shape[-2] / h)
            cx = int((col + 0.5) * images.shape[-1] / w)
            crops.append(padded[i, :, cy : cy + patch, cx : cx + patch])
    return stage, torch.stack(crops).view(len(chosen), min(per_channel, n), images.shape[1], patch, patch)


def patches_figure(patches: Tensor, mean: Sequence[float], std: Sequence[float], title: str) -> Figure:
    """One row per channel of ``top_activating_patches``' crops, shown in the image's colours."""
    rows, per_row = patches.shape[:2]
    shown = torch.stack([to_display(p, mean, std) for p in patches.flatten(0, 1)])
    factor = math.ceil(MIN_FILTER_PIXELS / shown.shape[1])
    shown = shown.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
    mosaic = _tile(shown, columns=per_row, pad=2)
    fig = _figure(FIGURE_WIDTH_INCHES * 0.6, FIGURE_WIDTH_INCHES * 0.6 * rows / per_row + 0.5)
    _show(fig.subplots(), mosaic)
    fig.suptitle(title, fontsize=9)
    return fig


def save(fig: Figure, path) -> None:
    """Write a figure at the module's fixed resolution (its pixel size is its inch size times ``DPI``)."""
    fig.savefig(path, dpi=DPI)

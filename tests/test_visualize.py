"""zoo.visualize on every family: stage activations, Grad-CAM, filters and patches as PNGs of the promised size."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from zoo import create_model, visualize

# each family's smallest member, at an input it accepts (GoogLeNet and Inception v3: the nets with auxiliary heads)
FAMILIES = [
    ("lenet5", 32),
    ("alexnet_cifar", 32),
    ("vgg11_bn_cifar", 32),
    ("googlenet", 64),
    ("googlenet_cifar", 32),
    ("inception_v3", 75),
    ("resnet18_cifar", 32),
    ("densenet_bc100_cifar", 32),
]
WIDE = (
    int(visualize.FIGURE_WIDTH_INCHES * visualize.DPI),
    int((visualize.FIGURE_WIDTH_INCHES / 2 + 0.5) * visualize.DPI),
)


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@pytest.mark.parametrize("name,side", FAMILIES)
def test_every_picture_on_every_family(name, side, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    x = torch.randn(1, model.in_chans, side, side)
    shown = visualize.to_display(x[0], [0.5] * model.in_chans, [0.25] * model.in_chans)

    activations = visualize.stage_activations(model, x)
    assert list(activations)[0] == "stem" and all(a.ndim == 3 for a in activations.values())
    for stage, activation in activations.items():
        visualize.save(visualize.feature_map_figure(shown, activation, stage), tmp_path / f"{stage}.png")
        assert png_size(tmp_path / f"{stage}.png") == WIDE

    cams = [visualize.grad_cam(model, x, target=t, plus=plus) for t in (None, 3) for plus in (False, True)]
    for cam in cams:
        assert cam.map.shape == (side, side) and 0 <= float(cam.map.min()) and float(cam.map.max()) <= 1
        assert torch.allclose(cam.probabilities.sum(), torch.tensor(1.0))
    assert cams[2].target == 3
    visualize.save(visualize.cam_figure(shown, [(str(c.target), c.map) for c in cams]), tmp_path / "cam.png")
    assert png_size(tmp_path / "cam.png") == (
        5 * visualize.PANEL_INCHES * visualize.DPI,
        (visualize.PANEL_INCHES + 0.5) * visualize.DPI,
    )

    weight = model.get_submodule(model.info.first_conv).weight
    visualize.save(visualize.filters_figure(weight, weight * 2, name), tmp_path / "filters.png")
    assert png_size(tmp_path / "filters.png") == (WIDE[0], int(visualize.FILTERS_HEIGHT_INCHES * visualize.DPI))

    stage, patches = visualize.top_activating_patches(
        model, torch.randn(6, model.in_chans, side, side), channels=4, per_channel=3
    )
    assert stage in activations and patches.shape[:3] == (4, 3, model.in_chans)
    visualize.save(
        visualize.patches_figure(patches, [0.5] * model.in_chans, [0.25] * model.in_chans, stage),
        tmp_path / "patches.png",
    )
    assert png_size(tmp_path / "patches.png")[0] == int(visualize.FIGURE_WIDTH_INCHES * 0.6 * visualize.DPI)
    assert model.training  # the caller's mode is restored: auxiliary heads still answer in training mode


def test_grad_cam_names_a_class_index_out_of_range():
    model = create_model("lenet5", num_classes=10)
    with pytest.raises(ValueError, match=r"class index 10 is out of range: the model has 10 classes \(0\.\.9\)"):
        visualize.grad_cam(model, torch.randn(1, 1, 32, 32), target=10)


def test_grad_cam_works_on_a_frozen_model():
    model = create_model("resnet18_cifar", num_classes=3).requires_grad_(False)
    assert float(visualize.grad_cam(model, torch.randn(1, 3, 32, 32)).map.max()) == 1.0


def test_filter_grid_shows_rgb_kernels_in_colour_and_upsampled():
    weight = torch.zeros(4, 3, 3, 3)
    weight[0, 0] = 1.0  # a red kernel
    grid = visualize.filter_grid(weight)
    assert grid.shape[-1] == 3 and grid.shape[0] >= visualize.MIN_FILTER_PIXELS
    assert grid[0, 0].tolist() == [1.0, 0.5, 0.5]  # red up, the zero channels grey
    assert visualize.filter_grid(torch.randn(6, 1, 5, 5)).shape[-1] == 1


def _squares(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise images; label 1 ones hold a bright 10x10 square at a random place. Returns images, labels, corners."""
    images = torch.randn(n, 1, 32, 32, generator=generator) * 0.3
    labels = torch.arange(n) % 2
    corners = torch.randint(0, 22, (n, 2), generator=generator)
    for i in labels.nonzero().squeeze(1).tolist():
        r, c = corners[i].tolist()
        images[i, 0, r : r + 10, c : c + 10] += 2.0
    return images, labels, corners


def test_grad_cam_peaks_inside_the_object_that_decides_the_class():
    """Two classes (a square or none): once trained, the map of class "square" peaks on the square. LeNet's last
    spatial stage is 5x5, so the peak is located to within one cell (32/5 pixels) of the square; the map's mean on
    the square is also at least twice its mean elsewhere (Grad-CAM++: higher on the square than elsewhere)."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = create_model("lenet5_modern", num_classes=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        images, labels, _ = _squares(32, generator)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    images, labels, corners = _squares(16, generator)
    model.eval()
    assert (model(images).argmax(-1) == labels).float().mean() >= 0.9
    assert visualize.cam_stage(model, images[:1]) == "stage1"
    cell = 7
    for i in labels.nonzero().squeeze(1).tolist():
        r, c = corners[i].tolist()
        square = torch.zeros(32, 32, dtype=torch.bool)
        square[r : r + 10, c : c + 10] = True
        cam = visualize.grad_cam(model, images[i : i + 1], target=1).map
        row, col = divmod(int(cam.argmax()), 32)
        assert r - cell <= row < r + 10 + cell and c - cell <= col < c + 10 + cell, (row, col, r, c)
        assert cam[square].mean() >= 2 * cam[~square].mean()
        cam_plus = visualize.grad_cam(model, images[i : i + 1], target=1, plus=True).map
        assert cam_plus[square].mean() > cam_plus[~square].mean()


def test_importing_zoo_visualize_imports_no_training_framework():
    code = (
        "import sys, zoo.visualize; "
        "bad = [m for m in ('lightning', 'hydra', 'omegaconf', 'zootrain') if m in sys.modules]; "
        "assert not bad, bad; assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

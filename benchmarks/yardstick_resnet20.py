"""An independent yardstick: the ResNet paper's CIFAR-10 ResNet-20 recipe in plain PyTorch, no project code.

He et al. 2016, Section 4.2, written from the paper alone (nothing of ``zoo`` or ``zootrain`` is imported; a test
checks): a 3x3 convolution with 16 filters, three stages of 3 basic blocks at 16, 32 and 64 filters (the first
block of stages 2 and 3 strides 2), option A shortcuts (identity, subsampled and zero-padded in channels where the
shape changes), BN after every convolution, ReLU, global average pooling, a 10-way fully connected layer; He
initialisation of the convolutions. SGD lr 0.1, momentum 0.9, weight decay 1e-4 on every parameter (the paper
excludes none; ``--no-wd-on-bn`` skips biases and BN, as the project does), batch 128, 4-pixel zero padding + random
32x32 crop + horizontal flip, per-pixel mean subtracted; lr /10 at 50 % and 75 % of the run's iterations (counted
per step, 32k and 48k of 64k in the paper). ``--bf16`` trains under bfloat16 autocast (the project's CPU default
for this family); ``--normalize channel`` divides by the channel std as the project does instead of only
subtracting the per-pixel mean.

Data: the CIFAR-10 JPEG zip the project reads (``--zip-path``, default ``$CNN_ZOO_CIFAR10_ZIP``), decoded with PIL
into a uint8 tensor in memory (the very pixels torchvision's ``decode_image`` gives the project: a test checks),
and the project's 45k/5k split: the same seeded, stratified hold-out
(``split_indices``, a reimplementation; ``tests/test_benchmarks.py`` asserts it picks the project's indices). The
training order and each batch's crops and flips are drawn from a generator seeded by (seed, epoch), so a run is
resumable exactly: ``--run-dir`` holds ``last.pt`` (model, optimizer, RNG state, epoch, curve), written atomically
after every epoch; the same command again continues from it (``--until-epoch K`` stops after epoch K, a piece of the
run). Each epoch prints and records training loss and error (running, on the augmented batches, as the paper's
curves) and validation loss and error; ``--json`` writes ``benchmarks/common.py``'s payload.

    python benchmarks/yardstick_resnet20.py --epochs 10 --threads 1 --bf16 --no-wd-on-bn --normalize channel \
        --run-dir /work/yardstick/resnet20_e10_project --json benchmarks/results/yardstick_resnet20_e10_project.json
    python benchmarks/yardstick_resnet20.py --epochs 10 --threads 1 \
        --run-dir /work/yardstick/resnet20_e10_paper --json benchmarks/results/yardstick_resnet20_e10_paper.json
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import zipfile
from pathlib import Path, PurePath

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ZIP_ENV = "CNN_ZOO_CIFAR10_ZIP"
CHECKPOINT = "last.pt"
# the settings a checkpoint must share with the command that resumes it
RUN_KEYS = (
    "zip_path",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "no_wd_on_bn",
    "bf16",
    "normalize",
    "val_fraction",
    "split_seed",
    "seed",
)


# ----- data: the zip's file list, the project's split, decoding -----
def members(zip_path: Path) -> tuple[list[str], list[int]]:
    """(member names sorted, class indices) of the zip's images laid out cifar10/train/<class>/*.jpg; no decoding."""
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(
            n
            for n in archive.namelist()
            if len(p := PurePath(n).parts) >= 3
            and p[-3] == "train"
            and p[-2] in CLASSES
            and PurePath(n).suffix.lower() in (".jpg", ".jpeg", ".png")
        )
    return names, [CLASSES.index(PurePath(n).parts[-2]) for n in names]


def split_indices(labels: list[int], fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training indices sorted, validation indices) of the project's hold-out: a permutation drawn from
    ``torch.Generator().manual_seed(seed)``; walking it, the first round(fraction * n_c) images of each class c are
    held out (validation, in the walk's order), the rest train. The project's ``dataset.val_fraction`` and
    ``dataset.split_seed`` (0.1 and 0 in its recipes). Kept apart so it can follow the project's algorithm; the
    split-equality test is the guard."""
    labels_t = torch.tensor(labels, dtype=torch.long)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    quota = (torch.bincount(labels_t, minlength=len(CLASSES)) * fraction).round().long().tolist()
    seen = [0] * len(quota)
    held = []
    for label in labels_t[perm].tolist():
        held.append(seen[label] < quota[label])
        seen[label] += 1
    held_t = torch.tensor(held, dtype=torch.bool)
    return perm[~held_t].sort().values, perm[held_t]


def decode(zip_path: Path, names: list[str]) -> Tensor:
    """uint8 (N, 3, 32, 32) of the named members, decoded by PIL."""
    from PIL import Image

    out = torch.empty(len(names), 32, 32, 3, dtype=torch.uint8)
    with zipfile.ZipFile(zip_path) as archive:
        for i, name in enumerate(names):
            with Image.open(io.BytesIO(archive.read(name))) as image:
                pixels = image.convert("RGB")
                if pixels.size != (32, 32):
                    raise SystemExit(f"{zip_path}:{name} is {pixels.size[0]}x{pixels.size[1]}, not 32x32")
                out[i] = torch.frombuffer(bytearray(pixels.tobytes()), dtype=torch.uint8).view(32, 32, 3)
    return out.permute(0, 3, 1, 2).contiguous()


def augment(images: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Each image zero-padded by ``pad`` pixels, a random crop of its size taken, flipped left-right half the time."""
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = dy[:, None] + torch.arange(h)  # (n, h)
    cols = dx[:, None] + torch.arange(w)  # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def normalisation(images: Tensor, kind: str) -> tuple[Tensor, Tensor]:
    """(mean, scale) on the [0, 1] scale from the training images: the per-pixel mean (3, 32, 32) and 1 (the
    paper), or the channel mean and std (3, 1, 1) (``channel``); summed in chunks, in float64."""
    n, total, squares = len(images), torch.zeros(images.shape[1:], dtype=torch.float64), 0.0
    for i in range(0, n, 5000):
        chunk = images[i : i + 5000].double().div(255)
        total += chunk.sum(0)
        squares = squares + chunk.square().sum((0, 2, 3))
    pixel_mean = total / n
    if kind == "pixel_mean":
        return pixel_mean.float(), torch.ones(1)
    pixels = n * images.shape[2] * images.shape[3]
    channel_mean = pixel_mean.mean((1, 2))
    std = (squares / pixels - channel_mean.square()).sqrt()
    return channel_mean.view(3, 1, 1).float(), std.view(3, 1, 1).float()


# ----- the network (He et al. 2016, Section 4.2) -----
class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.extra = stride, planes - in_planes

    def shortcut(self, x: Tensor) -> Tensor:
        """Option A: identity; where the shape changes, subsampled by the stride and zero-padded in channels."""
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """6n + 2 layers: n = 3 is ResNet-20."""

    def __init__(self, n: int = 3, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")  # He et al. 2015
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(x.mean((2, 3)))


# ----- training -----
def lr_at(step: int, total_steps: int, lr: float) -> float:
    """The base lr divided by 10 once the run has done 50 % and again at 75 % of its steps."""
    return lr * 0.1 ** sum(step >= int(total_steps * f) for f in (0.5, 0.75))


def param_groups(model: nn.Module, weight_decay: float, no_wd_on_bn: bool) -> list[dict]:
    if not no_wd_on_bn:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]  # BN weights and biases, the fc bias
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def evaluate(model: nn.Module, images: Tensor, labels: Tensor, prepare, bf16: bool) -> tuple[float, float]:
    """(mean loss, error %) over every image, in eval mode."""
    model.eval()
    loss_sum, wrong = 0.0, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(labels), 500):
            logits = model(prepare(images[i : i + 500])).float()
            loss_sum += F.cross_entropy(logits, labels[i : i + 500], reduction="sum").item()
            wrong += (logits.argmax(1) != labels[i : i + 500]).sum().item()
    model.train()
    return loss_sum / len(labels), 100 * wrong / len(labels)


def save_atomic(state: dict, path: Path) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    names, labels = members(args.zip_path)
    if not names:
        raise SystemExit(f"{args.zip_path} holds no images laid out cifar10/train/<class>/*.jpg")
    train_idx, val_idx = split_indices(labels, args.val_fraction, args.split_seed)
    print(f"{len(names)} images in {args.zip_path}: {len(train_idx)} to train on, {len(val_idx)} held out", flush=True)
    started = time.perf_counter()
    images = decode(args.zip_path, names)
    print(f"decoded in {time.perf_counter() - started:.1f} s", flush=True)
    labels_t = torch.tensor(labels)
    train_x, train_y = images[train_idx], labels_t[train_idx]
    val_x, val_y = images[val_idx], labels_t[val_idx]
    mean, scale = normalisation(train_x, args.normalize)

    def prepare(batch: Tensor) -> Tensor:
        return (batch.float().div(255) - mean) / scale

    model = CifarResNet(3)
    optimizer = torch.optim.SGD(
        param_groups(model, args.weight_decay, args.no_wd_on_bn), lr=args.lr, momentum=args.momentum
    )
    steps_per_epoch = len(train_idx) // args.batch_size  # the last partial batch dropped, as the project does
    if steps_per_epoch < 1:
        raise SystemExit(f"{len(train_idx)} training images make no batch of {args.batch_size}")
    total_steps = steps_per_epoch * args.epochs
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k in RUN_KEYS}
    curve, epoch, wall = [], 0, 0.0
    checkpoint = args.run_dir / CHECKPOINT
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        if state["settings"] != settings:
            differ = sorted(k for k in settings if state["settings"].get(k) != settings[k])
            raise SystemExit(f"{checkpoint} was trained with other settings ({', '.join(differ)}): another --run-dir")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        epoch, curve, wall = state["epoch"], state["curve"], state["wall_s"]
        print(f"resumed from {checkpoint} after epoch {epoch}", flush=True)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    stop = min(args.epochs, args.until_epoch or args.epochs)
    model.train()
    while epoch < stop:
        epoch_start = time.perf_counter()
        generator = epoch_generator(args.seed, epoch)
        order = torch.randperm(len(train_y), generator=generator)
        loss_sum, wrong, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, args.lr)
            batch = order[b * args.batch_size : (b + 1) * args.batch_size]
            x, y = prepare(augment(train_x[batch], generator)), train_y[batch]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            wrong += (logits.argmax(1) != y).sum().item()
            seen += len(y)
        val_loss, val_error = evaluate(model, val_x, val_y, prepare, args.bf16)
        epoch += 1
        seconds = time.perf_counter() - epoch_start
        wall += seconds
        row = {
            "epoch": epoch,
            "iterations": epoch * steps_per_epoch,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": loss_sum / seen,
            "train_error": 100 * wrong / seen,
            "val_loss": val_loss,
            "val_error": val_error,
            "wall_s": seconds,
        }
        curve.append(row)
        print(
            f"epoch {epoch}/{args.epochs}: train loss {row['train_loss']:.4f} error {row['train_error']:.2f} %, "
            f"val loss {val_loss:.4f} error {val_error:.2f} %, lr {row['lr']:g}, {seconds:.1f} s",
            flush=True,
        )
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "curve": curve,
            "wall_s": wall,
            "settings": settings,
        }
        save_atomic(state, checkpoint)
    return {
        "model": "resnet20 (plain PyTorch yardstick)",
        "settings": settings,
        "finished": epoch == args.epochs,
        "epochs_done": epoch,
        "train_images": len(train_idx),
        "val_images": len(val_idx),
        "steps_per_epoch": steps_per_epoch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_train_error": curve[-1]["train_error"] if curve else None,
        "final_val_error": curve[-1]["val_error"] if curve else None,
        "best_val_error": min((r["val_error"] for r in curve), default=None),
        "training_wall_s": wall,
        "curve": curve,
    }


def write_json(path: Path, args: argparse.Namespace, result: dict) -> None:
    """``benchmarks/common.py``'s payload; common imports only torch at import time (lightning and torchvision
    inside ``environment``), never zoo or zootrain, so the yardstick stays independent of the project."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import write_payload

    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "json"}
    write_payload(path, "yardstick_resnet20", torch.device("cpu"), settings, [result])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip-path", type=Path, default=os.environ.get(ZIP_ENV), help=f"default: ${ZIP_ENV}")
    parser.add_argument("--run-dir", type=Path, required=True, help="holds last.pt; resumed if present")
    parser.add_argument("--epochs", type=int, default=182, help="the run's length (the paper: 64k iterations)")
    parser.add_argument("--until-epoch", type=int, help="stop after this epoch (a piece; rerun to continue)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--no-wd-on-bn", action="store_true", help="no weight decay on biases and BN (the project)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (the project's CPU default here)")
    parser.add_argument(
        "--normalize",
        choices=("pixel_mean", "channel"),
        default="pixel_mean",
        help="pixel_mean: subtract the per-pixel mean (the paper); channel: channel mean/std (the project)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.1, help="the project's dataset.val_fraction")
    parser.add_argument("--split-seed", type=int, default=0, help="the project's dataset.split_seed")
    parser.add_argument("--seed", type=int, default=42, help="initialisation, order and augmentation")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--json", type=Path, help="write the curve and environment to this file")
    args = parser.parse_args(argv)
    if args.zip_path is None:
        parser.error(f"--zip-path or ${ZIP_ENV}: the CIFAR-10 JPEG zip")
    if min(args.epochs, args.batch_size, args.threads or 1, args.until_epoch or 1) < 1:
        parser.error("--epochs, --until-epoch, --batch-size and --threads must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.zip_path = Path(args.zip_path).resolve()  # a checkpoint names its data the same way however it was given
    result = train(args)
    if result["finished"]:
        print(
            f"\nyardstick resnet20: val error {result['final_val_error']:.2f} % after {args.epochs} epochs "
            f"(best {result['best_val_error']:.2f} %), {result['training_wall_s']:.0f} s of training"
        )
    else:
        print(f"\nstopped after epoch {result['epochs_done']} of {args.epochs}; run the same command to continue")
    if args.json:
        write_json(args.json, args, result)
    return result


if __name__ == "__main__":
    main()

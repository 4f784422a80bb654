"""Layer-by-layer summary of a model: output shape, parameters, multiply-adds, receptive field and jump.

    python -m zoo.summary lenet5
    python -m zoo.summary resnet18 --input-size 3 160 160 --num-classes 10

One row per leaf module call, in execution order (forward hooks). Multiply-adds are per image:
a convolution costs out_elems * (in_channels / groups) * kh * kw, a linear layer in * out; other layers count 0.
A layer with an unusual connection pattern may define ``macs(output) -> int`` to report its own count.

Receptive field r and jump j (distance in input pixels between neighbouring outputs) are tracked per tensor,
per axis, through every torch function the forward pass calls (a ``TorchFunctionMode``), so branches that are
added or concatenated (ResNet, Inception, DenseNet) get the largest field of their inputs. A convolution or
pooling with kernel k and stride s gives r_out = r_in + (k_eff - 1) * j_in and j_out = j_in * s. Once a tensor
loses its spatial layout (flatten, global pooling) the field is the whole image and shown as "-".
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakTensorKeyDictionary

from .base import count_parameters
from .registry import create_model

# (r_h, r_w, j_h, j_w); None: the whole image (after flatten / global pooling)
Field = tuple[int, int, int, int] | None


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    macs: int
    receptive_field: tuple[int, int] | None  # (height, width); None when global
    jump: tuple[int, int] | None


@dataclass(frozen=True)
class Summary:
    rows: list[LayerRow]
    total_params: int  # every parameter of the model, including ones no row ran (auxiliary heads in eval)
    total_macs: int


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1])) if v else (0, 0)
    return int(v), int(v)


def _arg(args: tuple, kwargs: dict, pos: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


def _tensors(obj: Any) -> Iterator[Tensor]:
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _kernel_stride_dilation(name: str, args: tuple, kwargs: dict) -> tuple[tuple, tuple, tuple] | None:
    """Window geometry of the sliding-window ops, or None for any other function."""
    if name == "conv2d":
        kernel = tuple(args[1].shape[-2:]) if len(args) > 1 else tuple(kwargs["weight"].shape[-2:])
        return kernel, _pair(_arg(args, kwargs, 3, "stride", 1)), _pair(_arg(args, kwargs, 5, "dilation", 1))
    if name in ("max_pool2d", "avg_pool2d"):
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        stride = _arg(args, kwargs, 2, "stride", None)
        dilation = _arg(args, kwargs, 4, "dilation", 1) if name == "max_pool2d" else 1
        return kernel, (_pair(stride) if stride else kernel), _pair(dilation)
    return None


def _adaptive_geometry(in_size: int, out_size: int) -> tuple[int, int]:
    """Largest window and (rounded-down) stride of an adaptive pool from ``in_size`` to ``out_size``."""
    windows = [math.ceil((i + 1) * in_size / out_size) - (i * in_size) // out_size for i in range(out_size)]
    return max(windows), max(in_size // out_size, 1)


def _propagate(
    name: str, args: tuple, kwargs: dict, inputs: list[Tensor], fields: list[Field], output: Tensor
) -> Field:
    if any(f is None for f in fields):
        return None
    rh, rw, jh, jw = (max(f[i] for f in fields) for i in range(4))
    spatial_in = inputs[0].shape[-2:] if inputs[0].ndim >= 3 else None
    if output.ndim < 3 or spatial_in is None:  # flatten / linear / view to (N, C): the whole image
        return None
    geometry = _kernel_stride_dilation(name, args, kwargs)
    if geometry is None and name.startswith("adaptive_") and tuple(output.shape[-2:]) != tuple(spatial_in):
        if tuple(output.shape[-2:]) == (1, 1):
            return None
        (kh, sh), (kw, sw) = (_adaptive_geometry(i, o) for i, o in zip(spatial_in, output.shape[-2:]))
        geometry = (kh, kw), (sh, sw), (1, 1)
    if geometry is None:
        if tuple(output.shape[-2:]) == (1, 1) and tuple(spatial_in) != (1, 1):  # e.g. mean over H, W
            return None
        return rh, rw, jh, jw
    (kh, kw), (sh, sw), (dh, dw) = geometry
    return rh + dh * (kh - 1) * jh, rw + dw * (kw - 1) * jw, jh * sh, jw * sw


class _FieldTracker(TorchFunctionMode):
    """Tags every tensor the forward pass makes with its receptive field and jump."""

    def __init__(self) -> None:
        super().__init__()
        self.fields = WeakTensorKeyDictionary()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in _tensors((args, kwargs)) if t in self.fields]
        outputs = list(_tensors(out))
        if inputs and outputs:
            name = getattr(func, "__name__", "")
            fields = [self.fields[t] for t in inputs]
            for o in outputs:
                if o.is_floating_point():  # skip pooling indices, shapes, masks
                    self.fields[o] = _propagate(name, args, kwargs, inputs, fields, o)
        return out


def _macs(module: nn.Module, output: Tensor) -> int:
    if hasattr(module, "macs"):
        return int(module.macs(output))
    if isinstance(module, nn.modules.conv._ConvNd):
        return output[0].numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output[0].numel() * module.in_features
    return 0


def summarize(model: nn.Module, input_size: Sequence[int] | None = None) -> list[LayerRow]:
    """Run one (1, C, H, W) input through ``model`` in eval mode and describe every leaf module call.

    ``input_size`` defaults to the size the model was registered with (``model.info.input_size``).
    """
    return _run(model, input_size).rows


def _run(model: nn.Module, input_size: Sequence[int] | None) -> Summary:
    if input_size is None:
        info = getattr(model, "info", None)
        if info is None:
            raise ValueError("input_size is required for a model that was not built by zoo.create_model")
        input_size = info.input_size
    names = {m: n for n, m in model.named_modules()}
    rows: list[LayerRow] = []
    counted: set[int] = set()  # a module called twice counts its parameters once
    tracker = _FieldTracker()

    def hook(module: nn.Module, _inputs: tuple, output: Any) -> None:
        out = next(_tensors(output), None)
        if out is None:
            return
        params = 0 if id(module) in counted else sum(p.numel() for p in module.parameters())
        counted.add(id(module))
        field = tracker.fields.get(out, None)
        rows.append(
            LayerRow(
                name=names[module],
                type=type(module).__name__,
                output_shape=tuple(out.shape[1:]),
                params=params,
                macs=_macs(module, out),
                receptive_field=None if field is None else field[:2],
                jump=None if field is None else field[2:],
            )
        )

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    x = torch.randn(1, *input_size, device=next(model.parameters()).device)
    try:
        model.eval()
        tracker.fields[x] = (1, 1, 1, 1)
        with torch.no_grad(), tracker:
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return Summary(rows, count_parameters(model), sum(r.macs for r in rows))


def _fmt_pair(pair: tuple[int, int] | None) -> str:
    if pair is None:
        return "-"
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def format_summary(rows: list[LayerRow], total_params: int | None = None) -> str:
    """A plain-text table with a totals line; ``total_params`` defaults to the sum of the rows."""
    header = ("Layer", "Type", "Output", "Params", "MACs", "RF", "Jump")
    body = [
        (
            r.name,
            r.type,
            "x".join(map(str, r.output_shape)),
            f"{r.params:,}",
            f"{r.macs:,}",
            _fmt_pair(r.receptive_field),
            _fmt_pair(r.jump),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    right = {3, 4, 5, 6}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    params = sum(r.params for r in rows) if total_params is None else total_params
    rule = "-" * len(line(header))
    return "\n".join(
        [
            line(header),
            rule,
            *map(line, body),
            rule,
            f"Total params: {params:,}   Total MACs: {sum(r.macs for r in rows):,}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.summary", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="registered model name (see zoo.list_models())")
    parser.add_argument(
        "--input-size",
        nargs=3,
        type=int,
        metavar=("C", "H", "W"),
        help="input size; default: the model's registered input size",
    )
    parser.add_argument("--num-classes", type=int, default=None, help="default: the paper's")
    args = parser.parse_args(argv)
    in_chans = args.input_size[0] if args.input_size else None
    try:
        with torch.device("meta"):  # shapes are all a summary needs: an input of any size costs no memory
            model = create_model(args.name, num_classes=args.num_classes, in_chans=in_chans)
        summary = _run(model, args.input_size)
    except KeyError as e:
        parser.error(e.args[0])
    except ValueError as e:  # input below the model's minimum, wrong channel count
        parser.error(str(e))
    print(format_summary(summary.rows, summary.total_params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

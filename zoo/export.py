"""Export a zoo model to a file other programs load, and check the file against PyTorch.

    python -m zoo.export resnet50 --format onnx --dynamic-batch
    python -m zoo.export resnet18_cifar --format torchscript --checkpoint last.ckpt
    python -m zoo.export densenet121 --format exported --output densenet121.pt2

Formats: ``onnx`` (the dynamo exporter; checked with onnxruntime when installed: ``pip install "cnn-zoo[onnx]"``),
``torchscript`` (``torch.jit.script``, loaded back with ``torch.jit.load``) and ``exported`` (``torch.export``,
loaded back with ``torch.export.load``). The model is exported in eval mode for a batch of its design input size;
``--dynamic-batch`` leaves the batch dimension free (checked with a second batch size).
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

from .registry import create_model, model_info
from .weights import WeightsError, extract_state_dict, load_file, load_pretrained

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported": ".pt2"}
RTOL, ATOL = 1e-3, 1e-4  # float32 kernels of other runtimes sum in another order


def build(name: str, checkpoint: str | None, num_classes: int | None, in_chans: int | None) -> nn.Module:
    """The model in eval mode; with a checkpoint, its class count is the checkpoint's unless given."""
    state = extract_state_dict(load_file(checkpoint)) if checkpoint else None
    classifier_weight = f"{model_info(name).classifier}.weight"
    if state is not None and num_classes is None and classifier_weight in state:
        num_classes = state[classifier_weight].shape[0]
    model = create_model(name, num_classes=num_classes, in_chans=in_chans)
    if state is not None:
        report = load_pretrained(model, state, source_name=f"the weights in {checkpoint}")
        if report.reinitialised:
            raise WeightsError(
                f"{checkpoint} has another class count than --num-classes {num_classes}: "
                "leave --num-classes out to take the checkpoint's"
            )
    return model.eval()


def export(model: nn.Module, fmt: str, path: Path, example: Tensor, dynamic_batch: bool) -> None:
    dynamic_shapes = {"x": {0: torch.export.Dim("batch", min=1)}} if dynamic_batch else None
    if fmt == "onnx":
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            input_names=["x"],
            output_names=["logits"],
            verbose=False,
        )
    elif fmt == "torchscript":
        torch.jit.script(model).save(str(path))  # scripting keeps the batch size free
    else:
        torch.export.save(torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes), str(path))


def run_exported(fmt: str, path: Path, x: Tensor) -> Tensor | None:
    """The exported file's output for ``x``; None when the runtime needed to check it is not installed."""
    if fmt == "onnx":
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # else importing it writes a device id into ~/.cache
        try:
            import onnxruntime
        except ImportError:
            return None
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
    if fmt == "torchscript":
        return torch.jit.load(str(path))(x)
    return torch.export.load(str(path)).module()(x)


def check(model: nn.Module, fmt: str, path: Path, inputs: list[Tensor]) -> float | None:
    """Largest absolute difference to PyTorch over ``inputs`` (None: not checked); raises if they differ."""
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            expected, actual = model(x), run_exported(fmt, path, x)
        if actual is None:
            return None
        torch.testing.assert_close(
            actual, expected, rtol=RTOL, atol=ATOL, msg=lambda m: f"{path} does not reproduce PyTorch's output: {m}"
        )
        worst = max(worst, (actual - expected).abs().max().item())
    return worst


def write_checked(model: nn.Module, fmt: str, path: Path, dynamic_batch: bool) -> tuple[float | None, list[Tensor]]:
    """Export into a new file beside ``path`` and check it, then move it onto ``path``: a failure leaves no partial
    file and keeps the one there (``--overwrite``); a folder that cannot be written is an OSError before exporting."""
    example = torch.randn(2, *model.info.input_size)
    inputs = [example] + ([torch.randn(3, *model.info.input_size)] if dynamic_batch else [])
    handle, staged = tempfile.mkstemp(suffix=path.suffix, prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    umask = os.umask(0)  # read only by setting it: the file gets a plain write's mode, not mkstemp's 0600
    os.umask(umask)
    os.chmod(staged, 0o666 & ~umask)
    try:
        export(model, fmt, Path(staged), example, dynamic_batch)
        worst = check(model, fmt, Path(staged), inputs)
        os.replace(staged, path)
    finally:
        Path(staged).unlink(missing_ok=True)
    return worst, inputs


def output_refusal(path: Path, overwrite: bool, checkpoint: str | None = None) -> str | None:
    """Why the export cannot be written to ``path`` (None: it can), said before the model is built."""
    if path.is_dir():
        return "is a folder; name a file inside it"
    if path.exists() and not overwrite:
        return "exists; pass --overwrite to replace it, or choose another file"
    if checkpoint and path.exists() and Path(checkpoint).exists() and os.path.samefile(path, checkpoint):
        return f"is the --checkpoint {checkpoint} being exported (an input is never overwritten); choose another file"
    if not path.parent.is_dir():
        return f"is in a folder that does not exist ({path.parent}); create it or choose another file"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="registered model name (zoo.list_models())")
    parser.add_argument("--format", choices=list(FORMATS), required=True)
    parser.add_argument("--checkpoint", help="weights to export: our checkpoint, a state_dict or a torchvision file")
    parser.add_argument("--dynamic-batch", action="store_true", help="leave the batch size free")
    parser.add_argument("--output", type=Path, help="file to write (default: NAME + the format's suffix)")
    parser.add_argument("--num-classes", type=int, help="default: the checkpoint's, else the paper's")
    parser.add_argument("--in-chans", type=int, help="default: the paper's")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = parser.parse_args(argv)
    path = args.output or Path(args.name + FORMATS[args.format])
    refusal = output_refusal(path, args.overwrite, args.checkpoint)
    if refusal:
        print(f"error: --output {path} {refusal}", file=sys.stderr)
        return 2
    try:
        model = build(args.name, args.checkpoint, args.num_classes, args.in_chans)
    except (KeyError, ValueError) as err:  # unknown name, unusable checkpoint (WeightsError is a ValueError)
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    try:
        worst, inputs = write_checked(model, args.format, path, args.dynamic_batch)
    except OSError as err:  # a folder that cannot be written (read-only, /proc), a full disk
        print(f"error: cannot write --output {path}: {err.strerror or err}", file=sys.stderr)
        return 2
    batch = "dynamic batch" if args.dynamic_batch else "batch 2"
    verdict = (
        'onnxruntime is not installed (pip install "cnn-zoo[onnx]"): output not checked'
        if worst is None
        else f"output matches PyTorch on {len(inputs)} batch(es), max |diff| {worst:.2e}"
    )
    print(f"wrote {path} ({args.format}, {batch}); {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared benchmark plumbing: arguments, settings, one training step, timing, memory, tables, JSON, environment.

Every timing syncs CUDA before reading ``time.perf_counter`` so a step's time is its GPU time, not its launch time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as `python benchmarks/x.py` from a checkout without installing
    sys.path.insert(0, str(REPO_ROOT))
# paths.root_dir and paths.data_dir of configs/paths/default.yaml, anchored at the checkout instead of the cwd:
# where the training layer keeps datasets and their decoded caches
PROJECT_ROOT = Path(os.environ.get("PROJECT_ROOT", REPO_ROOT))
DATA_DIR = PROJECT_ROOT / "data"

# The optimizer both sides of every comparison use (the same dict configures ZooClassifier).
OPTIMIZER = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}
TUNABLE = ("batch_size", "image_size", "steps", "warmup", "models")  # defaults that differ between cpu and cuda


# ----- arguments and settings -----
@dataclass(frozen=True)
class Setting:
    """How a model is trained: autocast precision, memory format, torch.compile."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    @property
    def label(self) -> str:
        return "+".join([self.precision] + ["cl"] * self.channels_last + ["compile"] * self.compile)


# --sweep: the settings worth comparing on a GPU, from plain fp32 to the fastest configuration.
SWEEP = (Setting(), Setting("bf16", True), Setting("bf16", True, True))


def build_parser(description: str, cpu_defaults: dict, cuda_defaults: dict) -> argparse.ArgumentParser:
    """The arguments every benchmark takes. Size defaults depend on the device and are filled in by ``parse_args``."""

    def show(value) -> str:
        if value is None:
            return "the model's own input size"
        return " ".join(value) if isinstance(value, list) else str(value)

    def default(key: str) -> str:
        return f"default: {show(cpu_defaults[key])} on cpu, {show(cuda_defaults[key])} on cuda"

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", help=f"registered zoo names ({default('models')})")
    parser.add_argument("--batch-size", type=int, help=default("batch_size"))
    parser.add_argument("--image-size", type=int, help=default("image_size"))
    parser.add_argument("--steps", type=int, help="timed steps per model and side, " + default("steps"))
    parser.add_argument("--warmup", type=int, help="untimed steps first (compile, autotune), " + default("warmup"))
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: bfloat16 autocast")
    parser.add_argument("--channels-last", action="store_true", help="channels_last model and input")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (in place, default mode)")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="run every setting of " + ", ".join(s.label for s in SWEEP) + " (ignores the three above)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's choice); on a shared "
        "machine 1 thread suffers far less from other processes than all cores",
    )
    parser.add_argument("--json", type=Path, help="write results and environment to this file")
    parser.set_defaults(_cpu_defaults=cpu_defaults, _cuda_defaults=cuda_defaults)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    defaults = args._cuda_defaults if args.device == "cuda" else args._cpu_defaults
    del args._cpu_defaults, args._cuda_defaults
    for key in TUNABLE:
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if min(args.steps, args.warmup, args.batch_size, 1 if args.threads is None else args.threads) < 1:
        parser.error("--steps, --warmup, --batch-size and --threads must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.device = torch.device(args.device)
    args.settings = list(SWEEP) if args.sweep else [Setting(args.precision, args.channels_last, args.compile)]
    return args


def check_zoo_names(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    from zoo import list_models

    unknown = [n for n in names if n not in list_models()]
    if unknown:
        parser.error(f"not registered in the zoo: {', '.join(unknown)}; registered: {', '.join(list_models())}")


def setup_backend(device: torch.device) -> None:
    """Same backend flags for every measurement: cudnn autotuning on (as the training layer does on a GPU)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


# ----- one training step -----
def split_logits(output) -> tuple[Tensor, tuple[Tensor, ...]]:
    """(main logits, auxiliary logits) of a zoo ``ClassifierOutput`` or a torchvision Inception/GoogLeNet output."""
    if isinstance(output, Tensor):
        return output, ()
    main, *rest = output
    aux = [t for item in rest if item is not None for t in (item if isinstance(item, (tuple, list)) else (item,))]
    return main, tuple(aux)


def classification_loss(output, y: Tensor, aux_weights: Sequence[float]) -> Tensor:
    """Main logits' cross-entropy plus each auxiliary output's cross-entropy times its weight, as in ZooClassifier."""
    logits, aux = split_logits(output)
    if len(aux) != len(aux_weights):
        raise ValueError(f"model returned {len(aux)} auxiliary outputs but {len(aux_weights)} aux weights were given")
    loss = F.cross_entropy(logits, y)
    for weight, aux_logits in zip(aux_weights, aux):
        loss = loss + weight * F.cross_entropy(aux_logits, y)
    return loss


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    aux_weights: Sequence[float],
    precision: str,
) -> None:
    """Forward (under autocast), loss, backward, optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    with autocast(x.device, precision):
        loss = classification_loss(model(x), y, aux_weights)
    loss.backward()
    optimizer.step()


def sgd(params, device: torch.device) -> torch.optim.SGD:
    """``OPTIMIZER`` on plain parameters, fused on CUDA like ZooClassifier."""
    kwargs = {k: v for k, v in OPTIMIZER.items() if not k.startswith("_")}
    return torch.optim.SGD(params, fused=device.type == "cuda", **kwargs)


def prepare_model(model: torch.nn.Module, device: torch.device, setting: Setting) -> torch.nn.Module:
    """Move to ``device`` in training mode; channels_last and in-place compile as ZooClassifier.configure_model does."""
    model.to(device).train()
    if setting.channels_last:
        model.to(memory_format=torch.channels_last)
    if setting.compile:
        model.compile()
    return model


def synthetic_images(n: int, in_chans: int, image_size: int, num_classes: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random float images and labels on the CPU (pixel values do not change the time of a dense CNN)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, in_chans, image_size, image_size, generator=generator)
    return images, torch.randint(num_classes, (n,), generator=generator)


# ----- timing and memory -----
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds ``fn`` takes, device work included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleave(runs: dict[str, Callable[[], list[float]]], rounds: int) -> dict[str, list[float]]:
    """Call the runs in turn (A B A B ...) for ``rounds`` rounds so machine noise hits every side alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].extend(run())
    return times


def step_stats(step_times: Sequence[float], batch_size: int) -> dict:
    """Median-based throughput of timed steps; mean and spread for the record."""
    median = statistics.median(step_times)
    return {
        "images_per_s": batch_size / median,
        "median_step_s": median,
        "mean_step_s": statistics.fmean(step_times),
        "min_step_s": min(step_times),
        "max_step_s": max(step_times),
        "timed_steps": len(step_times),
    }


def allocated_bytes(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device, baseline_bytes: int = 0) -> float | None:
    """Peak allocated CUDA memory since the last reset, less ``baseline_bytes`` (memory held by others); None on CPU."""
    if device.type != "cuda":
        return None
    synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - baseline_bytes) / 2**20


def release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ----- output -----
def fmt(value, digits: int = 1) -> str:
    """Table cell: '-' for missing values, fixed decimals for floats."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 2) -> str:
    """Fixed-width table: the first ``text_columns`` columns left-aligned, the (numeric) others right-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]

    def line(cells):
        return "  ".join(
            str(c).ljust(w) if i < text_columns else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cpu_name() -> str:
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(device: torch.device) -> dict:
    import lightning
    import torchvision

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "device": _cpu_name() if device.type == "cpu" else torch.cuda.get_device_name(device),
    }
    if device.type == "cuda":
        env.update(
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            gpu_memory_gib=torch.cuda.get_device_properties(device).total_memory / 2**30,
        )
    return env


def measure_all(
    args: argparse.Namespace,
    measure: Callable[[str, Setting, argparse.Namespace], dict],
    describe: Callable[[str, Setting], str],
) -> list[dict]:
    """One result per (setting, model), freeing device memory between them."""
    results = []
    for setting in args.settings:
        for name in args.models:
            progress(f"{name} [{setting.label}]: {describe(name, setting)}")
            results.append(measure(name, setting, args))
            release_memory(args.device)
    return results


def publish(results: list[dict], headline: str, table_text: str, script: str, args: argparse.Namespace) -> None:
    """Print the headline and the table; write the JSON when ``--json`` was given."""
    print(f"\n{headline}\n")
    print(table_text)
    if args.json:
        write_json(args.json, script, args, results)


def write_json(path: Path, script: str, args: argparse.Namespace, results: list[dict]) -> None:
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "settings")}
    settings.update(device=str(args.device), settings=[asdict(s) | {"label": s.label} for s in args.settings])
    write_payload(path, script, args.device, settings, results)


def add_train_run_args(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that run ``train.py`` whole (``run_train``)."""
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="Hydra override")
    parser.add_argument("--threads", type=int, help="CPU threads of each run (default: train.py's threads=auto)")
    parser.add_argument("--json", type=Path, help="write the figures and environment to this file")


def parse_train_run_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)  # recorded in the JSON's environment
    return args


PIECES = "pieces.json"  # in a run directory: wall seconds, exit code and command of every invocation


def run_train(experiment: str, run_dir: Path, overrides: Sequence[str] = (), threads: int | None = None) -> dict:
    """``python train.py experiment=<experiment>`` in ``run_dir`` (resumed if unfinished), without a progress bar:
    its wall seconds, exit code and command, also appended to the run directory's ``pieces.json``."""
    command = [
        sys.executable,
        "train.py",
        f"experiment={experiment}",
        f"hydra.run.dir={Path(run_dir).resolve()}",
        "callbacks.progress_bar.refresh_rate=0",
        *([f"threads={threads}"] if threads else []),
        *overrides,
    ]
    progress(" ".join(command[1:]))
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, check=False)
    piece = {"wall_s": time.perf_counter() - started, "returncode": done.returncode, "command": command[1:]}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / PIECES).write_text(json.dumps([*pieces_of(run_dir), piece], indent=2))
    return piece


def pieces_of(run_dir: Path) -> list[dict]:
    """Every invocation ``run_train`` made in ``run_dir`` so far."""
    log = Path(run_dir) / PIECES
    return json.loads(log.read_text()) if log.is_file() else []


def train_to_end(experiment: str, run_dir: Path, overrides: Sequence[str] = (), threads: int | None = None) -> dict:
    """``run_train``, then the finished run's ``metrics.json``; an unfinished run stops the benchmark with the
    way to resume it."""
    piece = run_train(experiment, run_dir, overrides, threads)
    finished = Path(run_dir) / "metrics.json"
    if piece["returncode"] != 0 or not finished.is_file():
        raise SystemExit(
            f"the run in {run_dir} stopped (exit {piece['returncode']}); run the same command again to resume"
        )
    return json.loads(finished.read_text())


def write_payload(path: Path, script: str, device: torch.device, settings: dict, results: list[dict]) -> None:
    """The JSON every benchmark writes: script, time, environment, settings, results (paths etc. as strings)."""
    payload = {
        "script": script,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(device),
        "settings": settings,
        "results": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    progress(f"wrote {path}")

"""What ``auto`` means on the machine at hand: precision, memory format and CPU threads.

On a GPU: bf16 mixed precision where the GPU computes in it natively (else fp16 with loss scaling) and
channels_last. On a CPU the choice is per family, from measurements (``benchmarks/cpu_fast_path.py``): a train step
of one model per family timed in fp32, fp32 + channels_last, bf16 autocast and bf16 + channels_last; a setting is
the default only where it is at least 10 % faster than fp32, and a bf16 setting only for families whose digits runs
kept fp32's accuracy over 3 seeds (the others train in bf16 on request: ``trainer.precision=bf16-mixed``). bf16
needs a CPU that computes in it natively (AVX-512 BF16 or AMX); elsewhere the second column applies.
``tests/test_hardware.py`` derives this table from ``benchmarks/results/cpu_fast_path*.json`` and compares.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)

# family -> (setting with native bf16, setting without); a setting is "fp32" | "fp32+cl" | "bf16" | "bf16+cl"
CPU_FAST_PATH: dict[str, tuple[str, str]] = {
    "lenet": ("fp32+cl", "fp32+cl"),
    "alexnet": ("fp32", "fp32"),
    "vgg": ("bf16+cl", "fp32"),
    "googlenet": ("fp32+cl", "fp32+cl"),
    "bn_inception": ("fp32+cl", "fp32+cl"),
    "inception_v3": ("fp32", "fp32"),
    "inception_v4": ("fp32+cl", "fp32+cl"),
    "inception_resnet": ("fp32", "fp32"),
    "resnet": ("fp32", "fp32"),
    "resnet_cifar": ("bf16+cl", "fp32+cl"),
    "densenet": ("fp32", "fp32"),
}


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX-BF16: bf16 matrix arithmetic in hardware (elsewhere bf16 autocast is emulated, slower)."""
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def cpu_setting(family: str) -> str:
    with_bf16, without = CPU_FAST_PATH.get(family, ("fp32", "fp32"))
    return with_bf16 if cpu_has_native_bf16() else without


def gpu_precision() -> str:
    """bf16 where the GPU computes in it natively (Ampere and later), else fp16 with loss scaling."""
    return "bf16-mixed" if torch.cuda.is_bf16_supported(including_emulation=False) else "16-mixed"


def auto_precision(family: str | None, on_gpu: bool) -> str:
    """``precision=auto``: the GPU's mixed precision; on a CPU the family's measured setting (fp32 when training
    is not for a known family, e.g. evaluation, whose figures stay exact)."""
    if on_gpu:
        return gpu_precision()
    return "bf16-mixed" if family and cpu_setting(family).startswith("bf16") else "32-true"


def auto_channels_last(family: str, on_gpu: bool) -> bool:
    return on_gpu or cpu_setting(family).endswith("+cl")


def available_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (containers, CI runners)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def set_threads(threads: int | str | None) -> None:
    """``threads=auto``: one torch thread per available core, unless ``OMP_NUM_THREADS`` says otherwise (then torch
    already follows it); an integer sets that many; null leaves torch's own choice."""
    if threads is None or (threads == "auto" and os.environ.get("OMP_NUM_THREADS")):
        return
    count = available_cores() if threads == "auto" else int(threads)
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
        log.debug("torch threads: %d", count)

"""What ``auto`` means on the machine at hand: precision, memory format and CPU threads.

On a GPU: bf16 mixed precision where the GPU computes in it natively (else fp16 with loss scaling) and
channels_last. On a CPU the choice is per family, from measurements (``benchmarks/cpu_fast_path.py``): a train step
of one model per family timed in fp32, fp32 + channels_last, bf16 autocast and bf16 + channels_last; a setting is
the default only where it is at least 10 % faster than fp32, and a bf16 setting only for families whose digits runs
kept fp32's accuracy over 3 seeds (the others train in bf16 on request: ``trainer.precision=bf16-mixed``). bf16
needs a CPU that computes in it natively (AVX-512 BF16 or AMX); elsewhere the second column applies.
``tests/test_hardware.py`` derives this table from ``benchmarks/results/cpu_fast_path*.json`` and compares.

A busy machine (``benchmarks/busy_machine.py``): OpenMP threads that wait for each other by spinning on cores other
processes also want cost several times their work, so ``threads=auto`` leaves out the cores other processes keep busy
(``OtherProcessesLoad``), and OpenMP's spinning is shortened (``OPENMP_WAIT``) for load that arrives during a run.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

# Read by the OpenMP runtime when it starts, i.e. when torch is imported: set here, before that import (zootrain
# imports this module first). torch's pip wheels use GNU libgomp (torch.__config__.parallel_info()): a thread waiting
# at a barrier spins 300,000 times before sleeping, which on an oversubscribed core burns the time slice the thread
# it waits for needs. 10,000 spins keep the short waits of an idle machine spinning. KMP_BLOCKTIME (milliseconds) is
# the same knob for Intel's OpenMP (conda builds). A value the user set wins.
OPENMP_WAIT = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}
for _name, _value in OPENMP_WAIT.items():
    os.environ.setdefault(_name, _value)

import torch  # noqa: E402

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


def affinity() -> set[int]:
    """The CPUs this process may run on."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def available_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (containers, CI runners)."""
    cores = len(affinity())
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


class OtherProcessesLoad:
    """Cores kept busy by other processes since the last reading, on the CPUs this process may run on: the busy time
    ``/proc/stat`` counts on those CPUs less this process's own CPU time (``os.times``, finished children included),
    over the wall time from the import of this module to the first ``set_threads``: the imports and config
    composition of a run, so no extra waiting. Measured once per process, so that every run of one process (tests,
    a notebook) gets the same thread count and the same numbers. None where it cannot be told: no ``/proc/stat``,
    a window too short to count in, or a CPU quota smaller than the CPUs (their load is not ours)."""

    MIN_WINDOW_S = 0.2  # /proc/stat counts in 10 ms ticks: a shorter window cannot tell one busy core from none

    def __init__(self) -> None:
        self.first = self._reading()
        self.measured: tuple[float | None] | None = None  # (busy cores,) once measured

    def _reading(self) -> tuple[float, float, float] | None:
        """(wall seconds, busy core-seconds of this process's CPUs, this process's own CPU seconds)."""
        cpus = {f"cpu{i}" for i in affinity()}
        try:
            rows = [row.split() for row in Path("/proc/stat").read_text().splitlines() if row.startswith("cpu")]
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        # fields: user nice system idle iowait irq softirq steal ...; idle and iowait are not busy
        busy = sum(sum(map(int, r[1:4])) + sum(map(int, r[6:9])) for r in rows if r[0] in cpus)
        own = sum(os.times()[:4])
        return time.monotonic(), busy / ticks, own

    def busy_cores(self, usable: int) -> float | None:
        if self.measured is None:
            self.measured = (self._measure(usable),)
        return self.measured[0]

    def _measure(self, usable: int) -> float | None:
        before, now = self.first, self._reading()
        if before is None or now is None or now[0] - before[0] < self.MIN_WINDOW_S or usable < len(affinity()):
            return None
        wall, busy, own = (b - a for a, b in zip(before, now))
        return max(0.0, (busy - own) / wall)


OTHER_PROCESSES = OtherProcessesLoad()


def auto_threads(follow_load: bool = True) -> int:
    """The available cores less those other processes keep busy (rounded), at least one; all of them when not
    ``follow_load``."""
    cores = available_cores()
    busy = OTHER_PROCESSES.busy_cores(cores) if follow_load else None
    if busy is None:
        return cores
    count = max(1, min(cores, round(cores - busy)))
    if count < cores:
        log.info(
            f"threads=auto: {count} of {cores} cores (other processes keep {busy:.1f} busy; threads={cores} to use all)"
        )
    return count


def set_threads(threads: int | str | None, follow_load: bool = True) -> None:
    """``threads=auto``: one torch thread per available core that other processes leave free (``auto_threads``),
    unless ``OMP_NUM_THREADS`` says otherwise (then torch already follows it); an integer sets that many; null leaves
    torch's own choice. ``follow_load=False`` (``deterministic=true``): every available core whatever the load, since
    a CPU kernel may split its sums otherwise with another thread count, and a rerun or resume must not differ."""
    if threads is None or (threads == "auto" and os.environ.get("OMP_NUM_THREADS")):
        return
    count = auto_threads(follow_load) if threads == "auto" else int(threads)
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
        log.debug("torch threads: %d", count)

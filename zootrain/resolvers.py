"""OmegaConf resolvers the configs use (registered when the training layer's command line is imported)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import torch
from omegaconf import OmegaConf


def gpu_count() -> int:
    return max(1, torch.cuda.device_count())


_claimed: dict[str, tuple[int, object]] = {}  # lock directory -> (GPU index, open lock file) held by this process


def claim_gpu(job_num: int, count: int, lock_dir: Path) -> int:
    """A GPU no other process of the pool holds. Each parallel sweep worker claims one GPU for its lifetime (an
    exclusive lock on ``lock_dir/gpu<i>.lock``, released by the OS when the worker exits) and keeps it for every job
    it runs, so two jobs never share a GPU while another idles, however long each job takes. The search starts at
    GPU ``job_num mod count``; with every GPU held (more workers than GPUs) it falls back to that one."""
    key = str(lock_dir)
    if key in _claimed:
        return _claimed[key][0]
    lock_dir.mkdir(parents=True, exist_ok=True)
    first = job_num % count
    for index in ((first + i) % count for i in range(count)):
        handle = open(lock_dir / f"gpu{index}.lock", "w")  # noqa: SIM115 (held open: the lock lives with it)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed[key] = (index, handle)
        return index
    return first


def gpu_lock_dir() -> Path:
    """One lock folder per user and set of visible GPUs, shared by every sweep on this machine."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "all").replace(",", "-") or "none"
    return Path(tempfile.gettempdir()) / f"cnn-zoo-gpus-{os.getuid()}-{visible}"


def sweep_job_gpu(job_num: int | str) -> list[int] | str:
    """The GPU of parallel sweep job ``job_num`` (``claim_gpu``); ``auto`` without a GPU, so the job runs on CPU."""
    if not torch.cuda.is_available():
        return "auto"
    return [claim_gpu(int(job_num), torch.cuda.device_count(), gpu_lock_dir())]


def run_id() -> str:
    """Tells apart runs started in the same second on one machine (run directory names end with it)."""
    return str(os.getpid())


OmegaConf.register_new_resolver("run_id", run_id, replace=True, use_cache=True)
OmegaConf.register_new_resolver("gpu_count", gpu_count, replace=True)
OmegaConf.register_new_resolver("sweep_job_gpu", sweep_job_gpu, replace=True)

"""OmegaConf resolvers the configs use (registered when the training layer's command line is imported)."""

from __future__ import annotations

import os

import torch
from omegaconf import OmegaConf


def gpu_count() -> int:
    return max(1, torch.cuda.device_count())


def sweep_job_gpu(job_num: int | str) -> list[int] | str:
    """Pin sweep job k to GPU k mod #GPUs (``auto`` without a GPU, so the job still runs on CPU)."""
    return [int(job_num) % torch.cuda.device_count()] if torch.cuda.is_available() else "auto"


def run_id() -> str:
    """Tells apart runs started in the same second on one machine (run directory names end with it)."""
    return str(os.getpid())


OmegaConf.register_new_resolver("run_id", run_id, replace=True, use_cache=True)
OmegaConf.register_new_resolver("gpu_count", gpu_count, replace=True)
OmegaConf.register_new_resolver("sweep_job_gpu", sweep_job_gpu, replace=True)

"""OmegaConf resolvers the configs use (registered when the training layer's command line is imported)."""
from __future__ import annotations

import torch
from omegaconf import OmegaConf


def gpu_count() -> int:
    return max(1, torch.cuda.device_count())


def sweep_job_gpu(job_num: int | str) -> list[int] | str:
    """Pin sweep job k to GPU k mod #GPUs (``auto`` without a GPU, so the job still runs on CPU)."""
    return [int(job_num) % torch.cuda.device_count()] if torch.cuda.is_available() else "auto"


OmegaConf.register_new_resolver("gpu_count", gpu_count, replace=True)
OmegaConf.register_new_resolver("sweep_job_gpu", sweep_job_gpu, replace=True)

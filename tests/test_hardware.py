"""What ``auto`` picks on the machine at hand (precision, memory format, threads), the GPU pool of parallel sweeps,
and the learning-rate finder."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from zoo import list_models, model_info
from zootrain import hardware
from zootrain.resolvers import claim_gpu
from zootrain.run import train

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
FP32_SETTINGS = ("fp32", "fp32+cl")
sys.path.insert(0, str(RESULTS.parent))  # the benchmark's own rule decides: one source of truth
from cpu_fast_path import fastest  # noqa: E402


def test_the_cpu_fast_path_table_is_what_the_committed_benchmarks_measured():
    # the fastest setting per family, bf16 only where the digits runs showed it keeps the accuracy
    speed = json.loads((RESULTS / "cpu_fast_path.json").read_text())
    checks = [r for p in RESULTS.glob("cpu_fast_path_accuracy*.json") for r in json.loads(p.read_text())["results"]]
    kept = {r["family"] for r in checks if r["keeps_accuracy"]}
    margin = speed["settings"]["margin"]
    measured = {
        r["family"]: (
            fastest(r["speedup"], margin, tuple(r["speedup"]) if r["family"] in kept else FP32_SETTINGS),
            fastest(r["speedup"], margin, FP32_SETTINGS),
        )
        for r in speed["results"]
    }
    assert hardware.CPU_FAST_PATH == measured
    # every family of the zoo was timed: a new one needs a benchmark run before it gets a CPU default
    assert {model_info(n).family for n in list_models()} == set(measured)


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_precision_and_memory_format_follow_the_table_and_the_cpu(monkeypatch, native_bf16):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native_bf16)
    monkeypatch.setattr(hardware, "CPU_FAST_PATH", {"fast": ("bf16+cl", "fp32+cl"), "plain": ("fp32", "fp32")})
    assert hardware.auto_precision("fast", on_gpu=False) == ("bf16-mixed" if native_bf16 else "32-true")
    assert hardware.auto_channels_last("fast", on_gpu=False) is True
    assert hardware.auto_precision("plain", on_gpu=False) == "32-true"
    assert hardware.auto_channels_last("plain", on_gpu=False) is False
    assert hardware.auto_precision(None, on_gpu=False) == "32-true"  # evaluation: exact figures
    assert hardware.auto_channels_last("plain", on_gpu=True) is True


def test_threads_auto_uses_the_available_cores_unless_omp_num_threads_is_set(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(hardware, "available_cores", lambda: 1)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        hardware.set_threads("auto")
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        hardware.set_threads("auto")
        assert torch.get_num_threads() == 2
        hardware.set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_available_cores_never_exceed_the_affinity_mask():
    assert 1 <= hardware.available_cores() <= multiprocessing.cpu_count()


def _claim_and_wait(lock_dir, job_num, count, barrier, results):
    results.put((job_num, claim_gpu(job_num, count, Path(lock_dir))))
    barrier.wait()  # hold the claim until every worker has claimed


@pytest.mark.parametrize("job_nums", [(0, 1), (0, 2), (1, 3)])
@pytest.mark.integration
def test_parallel_sweep_workers_never_share_a_gpu(tmp_path, job_nums):
    # job numbers k mod #GPUs may collide (0 and 2 on two GPUs): the workers still get one GPU each
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(job_nums)), context.Queue()
    workers = [context.Process(target=_claim_and_wait, args=(str(tmp_path), k, 2, barrier, results)) for k in job_nums]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    claimed = dict(results.get(timeout=10) for _ in workers)
    assert sorted(claimed.values()) == [0, 1]


def test_a_worker_keeps_its_gpu_for_its_next_jobs(tmp_path):
    first = claim_gpu(1, 2, tmp_path)
    assert first == 1 and claim_gpu(2, 2, tmp_path) == first


def test_a_cpu_training_run_says_what_it_runs_in(make_cfg, caplog):
    with caplog.at_level(logging.INFO, logger="zootrain.run"):
        train(make_cfg("trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"))
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("cpu: "))
    expected = hardware.auto_precision("lenet", on_gpu=False)
    assert f"{torch.get_num_threads()} threads, precision {expected}" in line


@pytest.mark.integration
def test_lr_find_suggests_an_lr_plots_it_and_trains_nothing(make_cfg, tmp_path):
    # 300 steps: LeNet-5 learns nothing in its first hundred on digits, and a flat curve now gives no suggestion
    result = train(make_cfg("tune=lr_find", "tune_steps=300", run="lr"))
    run_dir = tmp_path / "lr"
    assert 1e-6 <= result["suggested_lr"] <= 1
    assert (run_dir / "lr_find.png").stat().st_size > 0
    saved = json.loads((run_dir / "lr_find.json").read_text())
    assert saved["suggested_lr"] == result["suggested_lr"] and len(saved["lr"]) == len(saved["loss"]) > 1
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "checkpoints").exists()


@pytest.mark.parametrize(("busy", "threads"), [(None, 2), (0.3, 2), (0.9, 1), (1.9, 1), (3.5, 1)])
def test_threads_auto_leaves_out_the_cores_other_processes_keep_busy(monkeypatch, caplog, busy, threads):
    monkeypatch.setattr(hardware, "available_cores", lambda: 2)
    monkeypatch.setattr(hardware.OTHER_PROCESSES, "busy_cores", lambda usable: busy)
    with caplog.at_level(logging.INFO, logger="zootrain.hardware"):
        assert hardware.auto_threads() == threads
    assert ("threads=2 to use all" in caplog.text) == (threads < 2)


def test_a_deterministic_run_takes_every_core_whatever_the_load(make_cfg, monkeypatch):
    """Another thread count may split a CPU kernel's sums otherwise: deterministic=true must not follow the load."""
    from zootrain.run import seed_and_threads

    monkeypatch.setattr(hardware, "available_cores", lambda: 2)
    monkeypatch.setattr(hardware.OTHER_PROCESSES, "busy_cores", lambda usable: 1.9)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        seed_and_threads(make_cfg("deterministic=true"))
        assert torch.get_num_threads() == 2
        seed_and_threads(make_cfg("deterministic=false"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.integration
def test_the_openmp_wait_is_set_before_torch_is_imported():
    # a fresh interpreter importing the command line as train.py does, watching for the first import of torch
    code = textwrap.dedent(
        """
        import os, sys
        seen = []
        class Watch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" and not seen:
                    seen.append(os.environ.get("GOMP_SPINCOUNT"))
        sys.meta_path.insert(0, Watch())
        import zootrain.cli
        print(seen[0])
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in hardware.OPENMP_WAIT}
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert shown.strip() == hardware.OPENMP_WAIT["GOMP_SPINCOUNT"]

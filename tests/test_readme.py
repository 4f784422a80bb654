"""The README is a contract: every command in its bash blocks runs here verbatim, with only size-limiting overrides
appended, in one working directory and in the README's order (so ``<run>`` and ``<ckpt>`` are the run directory
and last checkpoint of the latest training command before them). Commands that need hardware this machine lacks
must stop with the one-line error that says so. Its python blocks run as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

pytestmark = pytest.mark.integration  # every README command runs verbatim, in subprocesses

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
SIZE_LIMITS = {
    "train.py": [
        "trainer.max_epochs=1",
        "trainer.check_val_every_n_epoch=1",  # a recipe validating every 5 epochs would never validate in 1
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "dataset.batch_size=4",
        "callbacks.progress_bar.refresh_rate=0",
    ],
    "evaluate.py": ["trainer.limit_test_batches=2"],
}
SIZE_LIMITS["recipe_accuracy.py"] = [f"--override={o}" for o in SIZE_LIMITS["train.py"]]
# one epoch of one pair; its JSON and figure stay in the working folder (the README's paths name committed files)
SIZE_LIMITS["resnet_cifar_paper.py"] = [
    *("--epochs", "1", "--models", "plain20", "resnet20", "--json", "fig6.json", "--figure", "fig6.png"),
    *SIZE_LIMITS["recipe_accuracy.py"],
]
CI_COMMANDS = ("pip install", "ruff ", "python -m pytest")  # .ci/run runs these itself
NEEDS_GPU = ("trainer=gpu", "trainer=ddp ")
NEEDS_PLUGIN = {"launcher=submitit_slurm": "hydra_plugins.hydra_submitit_launcher"}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def shell_commands() -> list[str]:
    """Each line of a bash block (continuations joined, comments dropped), then each command quoted in the prose."""
    lines = [
        line.split("  #")[0].strip() for block in blocks("bash") for line in block.replace("\\\n", " ").splitlines()
    ]
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    lines += re.findall(r"`((?:python|zoo-[a-z]+) [^`]+)`", prose)
    commands = [c for c in lines if c and not c.startswith("#") and not c.startswith(CI_COMMANDS)]
    return list(dict.fromkeys(commands))


def expects_failure(command: str) -> str | None:
    """Why this command cannot succeed here (then it must fail with one clear line), or None."""
    if not torch.cuda.is_available() and any(f"{marker}" in f"{command} " for marker in NEEDS_GPU):
        return "no GPU"
    for marker, module in NEEDS_PLUGIN.items():
        if marker in command and __import__("importlib.util").util.find_spec(module) is None:
            return "needs the Hydra plugin"
    return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The files the README's commands name: a small image folder and a torchvision-format weights file."""
    root = tmp_path_factory.mktemp("readme")
    (root / "docs").symlink_to(REPO / "docs")  # the commands run from the checkout's root, where docs/ is
    for label, colour in (("daisy", (250, 250, 200)), ("rose", (200, 30, 40))):
        folder = root / "data" / "flowers" / label
        folder.mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (40 + i, 36), colour).save(folder / f"{i}.jpg")
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), root / "resnet18-torchvision.pth")
    return root


def latest_run(root: Path, command: str) -> Path:
    """The latest run with a checkpoint that the command's ``experiment=`` (if it names one) trained from the start
    (a continued run has other size limits: ``size_limits``)."""
    experiment = [f"- {arg}" for arg in shlex.split(command) if arg.startswith("experiment=")]
    runs = sorted((root / "logs" / "train" / "runs").iterdir(), key=lambda p: p.stat().st_mtime)

    def fits(run: Path) -> bool:
        overrides = (run / ".hydra" / "overrides.yaml").read_text().splitlines()
        continued = any(line.startswith("- ckpt_path=") for line in overrides)
        return (run / "checkpoints" / "last.ckpt").is_file() and not continued and set(experiment) <= set(overrides)

    return next(run for run in reversed(runs) if fits(run))


def size_limits(argv: list[str]) -> list[str]:
    """The overrides that make a command small. Training runs 1 epoch, except where the command means more: a run
    continued from a checkpoint (of a 1-epoch run here) goes one epoch beyond it, and a gradual unfreezing runs
    until its first thaw (epoch 2 in the README's command and in configs/finetune/gradual.yaml); either run cut to 1
    epoch is refused, as it should be."""
    limits = SIZE_LIMITS.get(Path(argv[1]).name, [])
    epochs = 1
    if Path(argv[1]).name == "train.py" and any(arg.startswith("ckpt_path=") for arg in argv):
        epochs = 2
    if "finetune=gradual" in argv:
        epochs = 3
    return [f"trainer.max_epochs={epochs}" if limit == "trainer.max_epochs=1" else limit for limit in limits]


def test_readme_has_commands():
    assert len(shell_commands()) >= 15 and blocks("python")


def test_every_readme_command_runs(workdir):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for command in shell_commands():
        if "<run>" in command or "<ckpt>" in command:
            run = latest_run(workdir, command)
            command = command.replace("logs/train/runs/<run>", str(run.relative_to(workdir)))
            command = command.replace("<ckpt>", str((run / "checkpoints" / "last.ckpt").relative_to(workdir)))
        argv = shlex.split(command)
        if argv[0] == "python":
            argv = [sys.executable, str(REPO / argv[1]) if argv[1].endswith(".py") else argv[1], *argv[2:]]
        proc = subprocess.run([*argv, *size_limits(argv)], cwd=workdir, capture_output=True, text=True, env=env)
        reason = expects_failure(command)
        if reason:
            assert proc.returncode != 0 and proc.stderr.strip().splitlines()[-1].startswith("error: "), command
            assert reason in proc.stderr, (command, proc.stderr[-500:])
        else:
            assert proc.returncode == 0, (command, proc.stderr[-3000:])


def test_every_readme_python_block_runs(tmp_path, monkeypatch):
    """As a user pastes it: each block alone, in an empty namespace and an empty folder."""
    for i, block in enumerate(blocks("python")):
        folder = tmp_path / f"block{i}"
        folder.mkdir()
        monkeypatch.chdir(folder)
        exec(compile(block, "README.md", "exec"), {})


def test_every_benchmark_figure_names_a_committed_json():
    """The README's figures come from benchmarks: each JSON it cites (in a table row or as a results path) exists."""
    table_cells = re.findall(r"^\|.*`([^` ]+\.json)`", README, re.M)
    paths = re.findall(r"`benchmarks/results/([^` ]+\.json)`", README)
    cited = set(table_cells + paths)
    assert len(cited) >= 8  # the speed table and the figures quoted in the prose
    results = REPO / "benchmarks" / "results"
    assert not [name for name in sorted(cited) if not list(results.glob(name))]

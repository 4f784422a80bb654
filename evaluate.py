"""Evaluate a checkpoint: ``python evaluate.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt``."""
import hydra
from omegaconf import DictConfig

from zootrain.cli import run_reporting_user_errors
from zootrain.run import evaluate


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_reporting_user_errors(evaluate, cfg)


if __name__ == "__main__":
    main()

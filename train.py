"""Train a zoo model: ``python train.py model=resnet18 dataset=cifar10 trainer.max_epochs=30``."""
import sys

import hydra
from omegaconf import DictConfig

from zootrain.cli import require_launcher_plugins, run_reporting_user_errors
from zootrain.run import train


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run_reporting_user_errors(train, cfg)
    return metrics.get("val/acc")  # the objective Hydra sweepers optimise


if __name__ == "__main__":
    require_launcher_plugins(sys.argv[1:])
    main()

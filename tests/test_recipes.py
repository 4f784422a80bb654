"""Paper recipes in configs/experiment compose to the paper's hyper-parameters."""

from __future__ import annotations

from conftest import compose_config

CIFAR10_TRAIN_IMAGES = 50_000


def test_cifar10_resnet20_is_the_papers_recipe(tmp_path):
    """He et al. 2016, Section 4.2: SGD 0.1, momentum 0.9, wd 1e-4, batch 128, 45k/5k split, /10 at 32k and 48k
    iterations, stop at 64k: the lr drops at the same fractions of the run, each point within one epoch."""
    cfg = compose_config("train", ["experiment=cifar10_resnet20"], tmp_path)
    assert cfg.model.name == "resnet20" and cfg.model.shortcut == "A"
    assert (cfg.optimizer.lr, cfg.optimizer.momentum, cfg.optimizer.weight_decay) == (0.1, 0.9, 1e-4)
    assert not cfg.optimizer.nesterov and cfg.dataset.augment
    train_images = round(CIFAR10_TRAIN_IMAGES * (1 - cfg.dataset.val_fraction))
    assert train_images == 45_000 and cfg.dataset.batch_size == 128
    steps_per_epoch = train_images // cfg.dataset.batch_size  # the training loader drops the last partial batch
    total = cfg.trainer.max_epochs * steps_per_epoch
    points = [int(total * fraction) for fraction in cfg.scheduler.fractions] + [total]
    for iterations, paper_iterations in zip(points, (32_000, 48_000, 64_000)):
        assert abs(iterations - paper_iterations) < steps_per_epoch
    assert cfg.scheduler.gamma == 0.1

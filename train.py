"""Train a zoo model: ``python train.py model=resnet18 dataset=cifar10 trainer.max_epochs=30``."""

from zootrain.cli import train_main

if __name__ == "__main__":
    train_main()

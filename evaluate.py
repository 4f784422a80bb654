"""Evaluate a checkpoint: ``python evaluate.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt``."""

from zootrain.cli import evaluate_main

if __name__ == "__main__":
    evaluate_main()

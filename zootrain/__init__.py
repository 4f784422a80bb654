"""Training layer: Lightning + Hydra on top of `zoo` (zoo never imports this package)."""

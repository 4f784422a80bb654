"""Training layer: Lightning + Hydra on top of `zoo` (zoo never imports this package)."""

import os

from . import hardware  # noqa: F401  (first of the package: it sets OpenMP's wait policy before torch is imported)

# MLflow (logger=mlflow) writes an installation id into ~/.config and reports usage over the network unless told not
# to: a run writes only where its settings say. A value the user set wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# isort: split
from . import data, resolvers  # noqa: F401,E402  (the dataset schema; OmegaConf resolvers the configs use)
from .config_store import register_configs  # noqa: E402
from .console import quieten  # noqa: E402

quieten()
register_configs()  # the registry-driven config nodes, before any config is composed

"""Training layer: Lightning + Hydra on top of `zoo` (zoo never imports this package)."""

from . import hardware  # noqa: F401  (first: it sets OpenMP's wait policy before torch is imported)

# isort: split
from . import data, resolvers  # noqa: F401,E402  (the dataset schema; OmegaConf resolvers the configs use)
from .config_store import register_configs  # noqa: E402
from .console import quieten  # noqa: E402

quieten()
register_configs()  # the registry-driven config nodes, before any config is composed

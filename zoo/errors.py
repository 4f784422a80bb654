"""The zoo's own exception, on the floor of the package so that every module can raise it."""


class WeightsError(ValueError):
    """A weights file or weights name that cannot be used, with the reason and what to do."""

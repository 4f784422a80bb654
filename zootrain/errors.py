"""Errors caused by what the user asked for; the command line prints them as one line instead of a traceback."""


class ConfigError(ValueError):
    """A misnamed or inconsistent option, with the valid choices."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being a finite number: training cannot continue meaningfully."""

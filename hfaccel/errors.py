"""Errors that describe a user's mistake (bad model name, bad coefficients, bad ONNX, ...).

The CLI prints these as one clear line and exits with status 2; anything else is a bug and keeps
its traceback. They derive from ``ValueError`` so library callers can catch them naturally.
"""


class HfaccelError(ValueError):
    """Base class of every error that names a problem in the user's input."""


class ConfigError(HfaccelError):
    """Invalid scaling coefficients or model parameters; the message names the argument."""


class UnknownModelError(HfaccelError):
    """A model name that is not in the registry; the message lists the valid names."""

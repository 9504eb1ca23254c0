"""Forward-Forward, explained: an interactive explainer of Hinton's Forward-Forward algorithm."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("ff-explained")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

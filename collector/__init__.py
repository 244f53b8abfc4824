"""mimecast-collector: Mimecast URL Protection click logs into your SIEM."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mimecast-collector")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

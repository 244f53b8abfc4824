"""mimecast-collector: Mimecast URL Protection click logs into your SIEM."""

# The one place the version is written: pyproject.toml reads it from here. Not asked of
# importlib.metadata at start-up, which costs 30-50 ms in every process.
__version__ = "0.1.0"

__all__ = ["__version__"]

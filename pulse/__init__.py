"""Wiring shared by every stage: configuration, CLI, simulator and the local broker."""

__all__ = ["__version__"]

# The one place the version is written: setuptools reads it (pyproject.toml, dynamic),
# ``pulse --version`` prints it and /metrics exports it as ``aftersales_build_info``.
__version__ = "0.1.0"

"""chmigrate: schema-as-code migrations, verification and drift detection for ClickHouse."""

from __future__ import annotations

DISTRIBUTION = "chmigrate-schema"  # the installed package's name (pyproject.toml), source of the version


def distribution_version(name: str) -> str:
    """The installed version of a distribution, read from its metadata without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def __getattr__(name: str) -> str:
    # `chmigrate.__version__` comes from the installed metadata, so pyproject.toml is its only source.
    if name == "__version__":
        return distribution_version(DISTRIBUTION)
    raise AttributeError(f"module 'chmigrate' has no attribute {name!r}")

"""chmigrate: schema-as-code migrations, verification and drift detection for ClickHouse."""

from __future__ import annotations

DISTRIBUTION = "chmigrate-schema"  # the installed package's name (pyproject.toml), source of the version


_VERSIONS: dict[str, str] = {}


def distribution_version(name: str) -> str:
    """The installed version of a distribution, read from its metadata without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    if name not in _VERSIONS:  # reading the metadata costs ~50 ms: once per process
        try:
            _VERSIONS[name] = version(name)
        except PackageNotFoundError:
            _VERSIONS[name] = "not installed"
    return _VERSIONS[name]


def __getattr__(name: str) -> str:
    # `chmigrate.__version__` comes from the installed metadata, so pyproject.toml is its only source.
    if name == "__version__":
        return distribution_version(DISTRIBUTION)
    raise AttributeError(f"module 'chmigrate' has no attribute {name!r}")

"""chmigrate: schema-as-code migrations, verification and drift detection for ClickHouse."""

__version__ = "0.1.0"

"""Database targets: one implementation per engine family."""

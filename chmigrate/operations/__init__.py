"""Command implementations per engine; chmigrate.api composes them."""

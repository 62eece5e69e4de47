"""The command-line interface: thin wrappers over chmigrate.api."""

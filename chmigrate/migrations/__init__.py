"""Versioned migration files: naming, splitting, discovery, ledger, planning, execution."""

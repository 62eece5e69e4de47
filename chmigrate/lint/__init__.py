"""`chmigrate lint`: rules that catch dangerous ClickHouse migrations before they run (see run.py)."""

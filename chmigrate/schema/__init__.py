"""The schema layer: inspect -> normalise -> diff -> render, plus the desired schema from the migrations.

Modules: objects (the model), inspect (system tables -> Schema), createparse and tokens
(reading the engine's CREATE text), normalize, diff, ddl and render (text, JSON, SQL,
GitHub), sources (what a migration file provides), desired (+ replay, the scratch
subprocess), compare (all of it in one call).
"""

"""Datasets by rule (issue 17): conditions on clientMetadata typed by the schema, and stable splits.

Groundwork so far: pure functions with their tests, not yet reachable from the configuration.
"""

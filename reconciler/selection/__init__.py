"""Datasets by rule (issue 17): conditions on clientMetadata typed by the schema, membership rules and
stable splits; pure functions, used by config/selection_check.py, plan/diff_selection.py and
encord/provider_selection.py."""

"""The pipeline: recall (candidate sets), ranking, dropping what was bought, source choice,
evaluation, submission and tuning, with the manifests they write (`manifests`) and the options
every command shares, typed (`settings`). It may import the toolkit, the data layer and the top-level
modules; it loads plugins through the registry, never by importing them, and never imports the
CLI or the reports (tests/test_layers.py checks)."""

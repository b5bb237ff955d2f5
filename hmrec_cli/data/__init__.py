"""The data layer: Kaggle table formats, ingest, the Parquet store, weeks (`splits`), customer
samples and provenance. It imports only the top-level modules (errors, atomic, integrity,
console), never the pipeline, the toolkit, the reports or the CLI (tests/test_layers.py checks)."""

"""What is shown to a person: the HTML report, candidate-set comparisons, the data report and
terminal plots. It may import the pipeline, the toolkit, the data layer, the synthetic world and the
top-level modules, never the CLI (tests/test_layers.py checks)."""

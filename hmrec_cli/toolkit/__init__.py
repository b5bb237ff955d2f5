"""What plugins build on: features, candidate features, purchase sequences, weekly examples,
interaction matrices, nearest-neighbour search, merge's fusion, the torch training loop, batches
and towers. It may import the data layer and the top-level modules, never the pipeline or the CLI
(tests/test_layers.py checks). Plugin authors reach it through `hmrec_cli.plugin`."""

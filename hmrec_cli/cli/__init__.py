"""The command-line layer: the Typer app (`app.py`), one module per command (`commands/`), the
`doctor` checks and the reference-page generator (`docs_gen.py`). Nothing below this layer imports
it (tests/test_layers.py checks), and heavy libraries load inside commands, not at start-up.
The console script `hmrec = "hmrec_cli.cli:main"` enters here."""

from hmrec_cli.cli.app import app, main

__all__ = ["app", "main"]

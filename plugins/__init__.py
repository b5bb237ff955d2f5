"""hmrec's built-in plugins. They register through entry points in hmrec's pyproject.toml, exactly
as a third-party package would (see examples/hmrec-example-plugin)."""

"""`python -m hmrec_cli.cli`: the same as the `hmrec` command."""

from hmrec_cli.cli import main

main()

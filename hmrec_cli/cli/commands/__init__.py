"""One module per command group; each imports its heavy dependencies inside the command body."""

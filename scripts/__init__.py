"""Developer scripts: wire code generation and layer checks."""

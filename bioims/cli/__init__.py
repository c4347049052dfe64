"""The `bioims` command line: thin commands over bioims."""

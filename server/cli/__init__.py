"""The `trimtab` admin command line."""

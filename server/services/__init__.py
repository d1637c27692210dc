"""Service functions: what the servicers call. Plain arguments in, domain objects out."""

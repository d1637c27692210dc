"""Discovery of Spark applications in an event-log directory and incremental reading of their files."""

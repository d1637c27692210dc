"""The gRPC edge: thin servicers, authentication and error mapping."""

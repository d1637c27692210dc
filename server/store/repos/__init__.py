"""Repositories: one per resource, each returning `server.domain` objects only."""

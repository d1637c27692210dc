"""The REST paths of the Databricks APIs the gateway calls, each with the API version it uses."""

from __future__ import annotations

JOBS = "/api/2.2/jobs"
CLUSTERS = "/api/2.1/clusters"
SECRETS = "/api/2.0/secrets"
DBFS = "/api/2.0/dbfs"
WORKSPACE = "/api/2.0/workspace"
POLICIES = "/api/2.0/policies/clusters"
INSTANCE_POOLS = "/api/2.0/instance-pools"
ARTIFACT_ALLOWLISTS = "/api/2.1/unity-catalog/artifact-allowlists"
FILES = "/api/2.0/fs/files"

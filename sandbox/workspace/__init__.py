"""A local Databricks workspace emulator that the real databricks-sdk talks to over HTTP.

`start_workspace(state_dir)` serves the Jobs, Clusters, DBFS and Secrets APIs on
127.0.0.1 and plays each run-now as simulated clusters (see player.py).
"""

from sandbox.workspace.api import RunningWorkspace, start_workspace
from sandbox.workspace.workspace import RunObserver, Workspace

__all__ = ["RunObserver", "RunningWorkspace", "Workspace", "start_workspace"]

"""The simulated Spark side of the sandbox.

- ``profiles``: what a job does (stages, bytes, CPU, memory per byte), six workload profiles.
- ``cluster``: validate a Databricks ``new_cluster`` spec and plan the cluster (SpecError).
- ``model``: the cost of one task on one node type (CPU, storage, network, disk, spill, GC).
- ``scheduler``: tasks onto executor slots over time, with autoscaling and spot loss.
- ``eventlog`` / ``events``: the timeline as a real Spark event log in the Databricks layout.
- ``run``: ``simulate_run`` from CREATING to TERMINATING; ``eventlog_writer`` writes the log files.
"""

"""What names a cluster configuration, and when two configurations are the same hardware to the plan.

A candidate's ``config_id`` is derived from a configuration alone (`config_id_of`), so a stored run's
configuration and a candidate meet by id whether Trimtab or the user chose it.

Whether applying a recommendation would change the job is another question, with its own answer:
`server.already_runs.already_runs` (see `same_hardware`).
"""

from __future__ import annotations

from server.domain import ClusterConfig


def config_id_of(config: ClusterConfig) -> str:
    """A stable name for a configuration: ``<node type>x<workers>[as<min>-<max>][-spot[-<n>od]]``.

    ``-<n>od``: a spot cluster whose first ``n`` workers are on demand (``first_on_demand`` n + 1,
    which counts the driver); the usual ``first_on_demand`` 1 (or 0) has no suffix."""
    spot = config.availability.upper().startswith("SPOT")
    if config.autoscale_max > 0:
        size = f"as{config.autoscale_min}-{config.autoscale_max}"
    else:
        size = str(config.num_workers)
    on_demand = f"-{config.first_on_demand - 1}od" if spot and config.first_on_demand > 1 else ""
    return f"{config.node_type_id}x{size}" + ("-spot" if spot else "") + on_demand


def driver_of(config: ClusterConfig) -> str:
    """Databricks runs the driver on the worker type unless the spec names one."""
    return config.driver_node_type_id or config.node_type_id


def same_hardware(a: ClusterConfig, b: ClusterConfig) -> bool:
    """Whether ``a`` and ``b`` are one configuration to the plan: the same id (`config_id_of`: node
    type, size, spot and the workers kept on demand), driver, and EBS volume type, count and size.
    What a run's cost and the plan's reasons compare a configuration by (the runs on the current
    cluster, a candidate that is the current one, a learning trial that is not the model's best).

    Not whether applying ``a`` to a job running ``b`` changes the job: spot with or without
    fallback, gp3's IOPS and throughput, a driver on spot or on demand (``first_on_demand`` 0 or 1),
    the runtime and what a cluster policy fills in are no part of it. Auto-apply, `recommendation
    apply` and `project show` ask that of `server.already_runs.already_runs`, which reads the job's
    spec as an apply writes it."""
    return (config_id_of(a) == config_id_of(b) and driver_of(a) == driver_of(b)
            and (a.ebs_volume_type, a.ebs_volume_count, a.ebs_volume_size_gb)
            == (b.ebs_volume_type, b.ebs_volume_count, b.ebs_volume_size_gb))

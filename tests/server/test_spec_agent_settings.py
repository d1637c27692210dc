"""The agent's own settings in ``spark_env_vars`` are no user edit (`server.spec.spec_drift`, pure)."""

from __future__ import annotations

from server.spec import agent_setting, spec_drift

APPLIED = {"node_type_id": "m5d.xlarge", "num_workers": 2,
           "spark_env_vars": {"TRIMTAB_SERVER": "trimtab:50051", "TRIMTAB_TOKEN": "{{secrets/trimtab/agent-token}}"}}


def test_the_agents_settings_added_changed_or_removed_are_no_drift() -> None:
    env = {"TRIMTAB_SERVER": "trimtab:50051", "TRIMTAB_TLS_CA": "/Workspace/Shared/trimtab/ca.pem",
           "TRIMTAB_AGENT_SPOOL_BYTES": "1073741824", "PIP_INDEX_URL": "https://pypi.internal/simple",
           "PIP_TIMEOUT": "60", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": "/Volumes/a/b/c/roots.pem"}
    assert spec_drift({**APPLIED, "spark_env_vars": env}, APPLIED) == []
    assert spec_drift({k: v for k, v in APPLIED.items() if k != "spark_env_vars"}, APPLIED) == []


def test_the_jobs_own_variables_and_the_sizing_still_drift() -> None:
    env = {**APPLIED["spark_env_vars"], "TRIMTAB_TLS_CA": "/ca.pem", "ETL_PARTITIONS": "400",
           "PYSPARK_PYTHON": "/databricks/python3/bin/python3"}
    live = {**APPLIED, "num_workers": 4, "spark_env_vars": env}
    assert spec_drift(live, APPLIED) == ["num_workers", "spark_env_vars.ETL_PARTITIONS",
                                         "spark_env_vars.PYSPARK_PYTHON"]


def test_only_spark_env_vars_hold_agent_settings() -> None:
    assert agent_setting("spark_env_vars.TRIMTAB_TLS_CA") and agent_setting("spark_env_vars.PIP_RETRIES")
    assert not agent_setting("spark_conf.TRIMTAB_TLS_CA")
    assert not agent_setting("custom_tags.TRIMTAB_X")
    assert not agent_setting("spark_env_vars.MY_TRIMTAB_X")

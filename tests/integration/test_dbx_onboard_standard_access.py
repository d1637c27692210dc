"""server.onboard for clusters in standard (shared) access mode, and where the init script lives (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.config import ServerConfig, load_config
from server.errors import InvalidArgument
from server.onboard import (
    AgentWiring,
    AllowlistMatcher,
    StandardAccess,
    allowlisted,
    init_script_info,
    onboard_spec,
    qualify,
    runtime_version,
)

VOLUME_SCRIPT = "/Volumes/main/ops/trimtab/trimtab-init.sh"
ON_VOLUME = init_script_info(VOLUME_SCRIPT)
COVERING = (AllowlistMatcher("/Volumes/main/ops/trimtab"),)


def _job(spec: dict, *, job_id: int = 1, extra: dict | None = None) -> dict:
    clusters = [{"job_cluster_key": "main", "new_cluster": spec}]
    tasks = [{"task_key": "main", "job_cluster_key": "main"}]
    if extra is not None:
        clusters.append({"job_cluster_key": "other", "new_cluster": extra})
        tasks.append({"task_key": "other", "job_cluster_key": "other"})
    return {"job_id": job_id, "settings": {"name": f"j{job_id}", "job_clusters": clusters, "tasks": tasks}}


def _standard(spark_version: str = "15.4.x-scala2.12", mode: str = "USER_ISOLATION") -> dict:
    return {"spark_version": spark_version, "node_type_id": "m5d.xlarge", "num_workers": 2,
            "data_security_mode": mode}


# ------------------------------------------------------------------ where the init script lives


@pytest.mark.parametrize(("location", "expected"), [
    ("/Shared/trimtab/trimtab-init.sh", {"workspace": {"destination": "/Shared/trimtab/trimtab-init.sh"}}),
    ("/Users/ops@example.com/init.sh", {"workspace": {"destination": "/Users/ops@example.com/init.sh"}}),
    (VOLUME_SCRIPT, {"volumes": {"destination": VOLUME_SCRIPT}}),
    ("dbfs:/trimtab/init.sh", {"dbfs": {"destination": "dbfs:/trimtab/init.sh"}}),
    ("s3://ops-bucket/trimtab/init.sh", {"s3": {"destination": "s3://ops-bucket/trimtab/init.sh"}}),
    ("abfss://ops@acct.dfs.core.windows.net/init.sh",
     {"abfss": {"destination": "abfss://ops@acct.dfs.core.windows.net/init.sh"}}),
    ("gs://ops-bucket/init.sh", {"gcs": {"destination": "gs://ops-bucket/init.sh"}}),
    ("  /Volumes/c/s/v/x.sh ", {"volumes": {"destination": "/Volumes/c/s/v/x.sh"}}),
])
def test_init_script_location_maps_to_its_init_script_info(location: str, expected: dict) -> None:
    assert init_script_info(location) == expected


@pytest.mark.parametrize(("location", "says"), [
    ("", "not an init script location"),
    ("trimtab-init.sh", "not an init script location"),
    ("https://example.com/init.sh", "not an init script location"),
    ("/Volumes/main/ops/trimtab", "/Volumes/<catalog>/<schema>/<volume>/<file>"),
    ("/Shared/trimtab/", "expected a file"),
    ("s3://", "expected a file"),
    ("abfss://container-only", "abfss://<bucket or container>/<path to the script>"),
    ("gs://bucket-only", "gs://<bucket or container>/<path to the script>"),
    ("/Shared/../etc/init.sh", "must not contain '..'"),
    ("/Shared/my init.sh", "not an init script location"),
])
def test_a_bad_init_script_location_says_what_is_accepted(location: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        init_script_info(location)


def test_the_setting_is_checked_when_the_configuration_is_made(tmp_path: Path) -> None:
    assert ServerConfig().init_script == "/Shared/trimtab/trimtab-init.sh"
    assert load_config(env={"TRIMTAB_INIT_SCRIPT": VOLUME_SCRIPT}, file=tmp_path / "none.toml").init_script \
        == VOLUME_SCRIPT
    with pytest.raises(InvalidArgument, match=r"init_script \(TRIMTAB_INIT_SCRIPT\): 'ftp://x/y.sh' is not"):
        load_config(env={"TRIMTAB_INIT_SCRIPT": "ftp://x/y.sh"}, file=tmp_path / "none.toml")
    # The default wiring still puts the workspace file on clusters, as before the setting existed.
    assert AgentWiring(server_address="h:1").init_script == init_script_info("/Shared/trimtab/trimtab-init.sh")


def test_onboarding_puts_the_volume_script_on_the_cluster_once() -> None:
    wiring = AgentWiring(server_address="h:1", init_script=ON_VOLUME)
    spec = onboard_spec(_standard(), project_id="7", wiring=wiring)
    assert spec["init_scripts"] == [{"volumes": {"destination": VOLUME_SCRIPT}}]
    assert onboard_spec(spec, project_id="7", wiring=wiring) == spec


# ------------------------------------------------------------------ the allowlist


def test_a_prefix_covers_paths_below_it_on_a_segment_boundary_only() -> None:
    folder = [AllowlistMatcher("/Volumes/a/b")]
    assert allowlisted("/Volumes/a/b/x.sh", folder)
    assert allowlisted("/Volumes/a/b/deeper/x.sh", folder)
    assert not allowlisted("/Volumes/a/bc/x.sh", folder)
    assert not allowlisted("/Volumes/a/x.sh", folder)
    assert allowlisted("/Volumes/a/b/x.sh", [AllowlistMatcher("/Volumes/a/b/")])  # written with the slash
    assert allowlisted("/Volumes/a/b/x.sh", [AllowlistMatcher("/Volumes/a/b/x.sh")])  # the file itself
    assert not allowlisted("/Volumes/a/b/x.sh.bak", [AllowlistMatcher("/Volumes/a/b/x.sh")])
    assert allowlisted("s3://bucket/init/x.sh", [AllowlistMatcher("s3://bucket/init")])
    assert not allowlisted("/Volumes/a/b/x.sh", [])


def test_only_prefix_match_is_trusted() -> None:
    # PREFIX_MATCH is the SDK's only MatchType; the REST reference's MATCH_TYPE_UNSPECIFIED, or
    # anything newer, is not known to cover the script.
    for match_type in ("MATCH_TYPE_UNSPECIFIED", "EXACT", ""):
        assert not allowlisted("/Volumes/a/b/x.sh", [AllowlistMatcher("/Volumes/a/b/x.sh", match_type)])
    assert not allowlisted("/Volumes/a/b/x.sh", [AllowlistMatcher("")])


@pytest.mark.parametrize(("spark_version", "expected"), [
    ("13.3.x-scala2.12", (13, 3)), ("15.4.x-photon-scala2.12", (15, 4)), ("18.0.x-gpu-ml-scala2.13", (18, 0)),
    ("19.1.x-scala2.13", (19, 1)), ("custom:my-image", None), ("", None), (None, None), ("15", None),
])
def test_runtime_version_reads_major_and_minor(spark_version: str | None, expected: tuple | None) -> None:
    assert runtime_version(spark_version) == expected


# ------------------------------------------------------------------ qualify


def test_standard_access_is_onboarded_when_the_volume_script_is_allowlisted() -> None:
    access = StandardAccess(ON_VOLUME, COVERING)
    for mode in ("USER_ISOLATION", "DATA_SECURITY_MODE_STANDARD"):
        for version in ("13.3.x-scala2.12", "15.4.x-scala2.12", "18.9.x-scala2.13"):
            q = qualify(_job(_standard(version, mode)), access)
            assert [c.cluster_key for c in q.clusters] == ["main"], (mode, version, q.notes)
            assert q.notes == [] and not q.needs_allowlist
    cloud = StandardAccess(init_script_info("s3://ops/trimtab/init.sh"), (AllowlistMatcher("s3://ops/trimtab"),))
    assert qualify(_job(_standard()), cloud).clusters


def test_the_default_workspace_file_script_is_not_runnable_in_standard_access() -> None:
    q = qualify(_job(_standard()))  # the default: /Shared/trimtab/trimtab-init.sh, nothing read
    assert q.clusters == [] and not q.needs_allowlist
    assert q.skipped_reason == (
        "cluster 'main' runs in standard (shared) access mode (USER_ISOLATION), where only allowlisted init "
        "scripts in a Unity Catalog volume or cloud storage run, and Trimtab's init script "
        "/Shared/trimtab/trimtab-init.sh is a workspace file; set TRIMTAB_INIT_SCRIPT to a /Volumes path "
        "(or an s3://, abfss://, gs:// URI) and allowlist it")
    dbfs = qualify(_job(_standard()), StandardAccess(init_script_info("dbfs:/t/init.sh"), COVERING))
    assert "Trimtab's init script dbfs:/t/init.sh is on DBFS; set TRIMTAB_INIT_SCRIPT" in (dbfs.skipped_reason or "")


def test_an_allowlist_not_read_yet_asks_for_it_and_only_then() -> None:
    q = qualify(_job(_standard()), StandardAccess(ON_VOLUME))
    assert q.clusters == [] and q.needs_allowlist
    assert "allowlist could not be read (not read)" in (q.skipped_reason or "")
    # Nothing the allowlist could change: no reason to read it.
    for spec in (_standard("19.0.x-scala2.13"), _standard("12.2.x-scala2.12"), _standard("custom:x")):
        assert not qualify(_job(spec), StandardAccess(ON_VOLUME)).needs_allowlist
    dedicated = dict(_standard(), data_security_mode="SINGLE_USER")
    assert not qualify(_job(dedicated), StandardAccess(ON_VOLUME)).needs_allowlist
    assert qualify(_job(dedicated), StandardAccess(ON_VOLUME)).clusters  # dedicated needs no allowlist


def test_a_script_off_the_allowlist_is_skipped_saying_so() -> None:
    elsewhere = StandardAccess(ON_VOLUME, (AllowlistMatcher("/Volumes/main/ops/trimtabs"),))
    q = qualify(_job(_standard()), elsewhere)
    assert q.clusters == [] and not q.needs_allowlist
    assert q.skipped_reason == (
        "cluster 'main' runs in standard (shared) access mode (USER_ISOLATION), where only allowlisted init "
        f"scripts run, and {VOLUME_SCRIPT} is not on the metastore's INIT_SCRIPT allowlist; a metastore admin "
        "can add it (or its folder) as PREFIX_MATCH")
    assert not qualify(_job(_standard()), StandardAccess(ON_VOLUME, ())).clusters  # empty: the default


def test_an_unreadable_allowlist_is_skipped_with_the_permission_it_needs() -> None:
    denied = StandardAccess(ON_VOLUME, allowlist_error="403: needs metastore admin or MANAGE ALLOWLIST on the "
                                                       "metastore")
    q = qualify(_job(_standard()), denied)
    assert q.clusters == [] and not q.needs_allowlist
    assert ("the metastore's INIT_SCRIPT allowlist could not be read (403: needs metastore admin or MANAGE "
            f"ALLOWLIST on the metastore); a metastore admin can allowlist {VOLUME_SCRIPT} and grant Trimtab's "
            "token MANAGE ALLOWLIST") in (q.skipped_reason or "")


@pytest.mark.parametrize(("spark_version", "says"), [
    ("12.2.x-scala2.12", "init scripts run only from runtime 13.3 LTS; its runtime is 12.2: upgrade the job "
                         "to 13.3 to 18.x to onboard it"),
    ("13.2.x-scala2.12", "its runtime is 13.2: upgrade"),
    ("19.0.x-scala2.13", "on runtime 19 and above init scripts see only Databricks' own environment variables, "
                         "so the agent would not find Trimtab (TRIMTAB_SERVER comes from spark_env_vars); its "
                         "runtime is 19.0"),
    ("21.1.x-scala2.13", "its runtime is 21.1"),
    ("custom:team-image", "its runtime 'custom:team-image' does not say which it is; set a numbered "
                          "spark_version (13.3 to 18.x) to onboard it"),
    ("", "its runtime '' does not say which it is"),
])
def test_a_runtime_outside_13_3_to_18_is_skipped_even_when_allowlisted(spark_version: str, says: str) -> None:
    q = qualify(_job(_standard(spark_version)), StandardAccess(ON_VOLUME, COVERING))
    assert q.clusters == []
    assert (q.skipped_reason or "").startswith("cluster 'main' runs in standard (shared) access mode "
                                               "(USER_ISOLATION), where ")
    assert says in (q.skipped_reason or "")


def test_a_job_keeps_its_safe_clusters_and_notes_the_standard_one() -> None:
    dedicated = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 3}
    q = qualify(_job(_standard(), extra=dedicated), StandardAccess(ON_VOLUME, ()))
    assert [c.cluster_key for c in q.clusters] == ["other"] and q.skipped_reason is None
    assert len(q.notes) == 1 and q.notes[0].startswith("cluster 'main' runs in standard")


# ------------------------------------------------------------------ access mode "Auto"


@pytest.mark.parametrize(("spark_version", "node_type", "standard"), [
    # "Auto defaults to Standard unless a machine learning runtime, a GPU instance type, or a
    # Databricks Runtime lower than 14.3 is selected, in which case Dedicated is used."
    ("15.4.x-scala2.12", "m5d.xlarge", True),
    ("14.3.x-scala2.12", "m5d.xlarge", True),
    ("custom:team-image", "m5d.xlarge", True),  # cannot tell: treated as standard (never break a cluster)
    ("14.2.x-scala2.12", "m5d.xlarge", False),
    ("15.4.x-cpu-ml-scala2.12", "m5d.xlarge", False),
    ("15.4.x-gpu-ml-scala2.12", "g5.xlarge", False),
    ("15.4.x-scala2.12", "g5.xlarge", False),
    ("15.4.x-scala2.12", "Standard_NC6s_v3", False),
    ("15.4.x-scala2.12", "Standard_D4ds_v5", True),
])
def test_access_mode_auto_is_judged_as_databricks_resolves_it(spark_version: str, node_type: str,
                                                             standard: bool) -> None:
    spec = {**_standard(spark_version, mode="DATA_SECURITY_MODE_AUTO"), "node_type_id": node_type}
    found = qualify(_job(spec))
    if standard:
        assert found.clusters == []
        assert "(DATA_SECURITY_MODE_AUTO, which is standard on this runtime)" in found.notes[0]
    else:
        assert [c.cluster_key for c in found.clusters] == ["main"] and found.notes == []


def test_access_mode_auto_with_use_ml_runtime_is_dedicated() -> None:
    # The newer form picks the ML runtime by a flag beside a plain version key: Databricks runs DBR ML,
    # so Auto is dedicated, as for a "-cpu-ml-" key (review: it was skipped as standard).
    spec = {**_standard(mode="DATA_SECURITY_MODE_AUTO"), "kind": "CLASSIC_PREVIEW", "use_ml_runtime": True}
    found = qualify(_job(spec))
    assert [c.cluster_key for c in found.clusters] == ["main"] and found.notes == []
    # Without it (or false) the same spec is standard, and left out.
    for plain in ({**spec, "use_ml_runtime": False}, {k: v for k, v in spec.items() if k != "use_ml_runtime"}):
        assert qualify(_job(plain)).clusters == []


def test_access_mode_auto_on_a_standard_runtime_is_onboarded_like_standard_once_allowlisted() -> None:
    access = StandardAccess(init_script=ON_VOLUME, allowlist=COVERING)
    found = qualify(_job(_standard(mode="DATA_SECURITY_MODE_AUTO")), access)
    assert [c.cluster_key for c in found.clusters] == ["main"]


def test_a_skip_the_allowlist_alone_decides_is_marked_so() -> None:
    job = _job(_standard())
    assert qualify(job, StandardAccess(init_script=ON_VOLUME, allowlist=())).allowlist_bound
    assert qualify(job, StandardAccess(init_script=ON_VOLUME, allowlist_error="403")).allowlist_bound
    assert not qualify(job).allowlist_bound  # the default workspace-file script: no allowlist helps
    assert not qualify(_job(_standard("19.0.x-scala2.13")), StandardAccess(init_script=ON_VOLUME)).allowlist_bound

"""Where Trimtab's init script lives, and whether a standard-access cluster runs it (pure).

A cluster in standard (formerly shared) access mode runs only init scripts on the Unity
Catalog metastore's INIT_SCRIPT allowlist (Databricks Runtime 13.3 LTS and above), and on
runtime 19 and above its init scripts see only Databricks' own environment variables. Such a
cluster is onboarded only when that is provably safe (`standard_access_problem`): Trimtab's init
script in a volume or cloud storage, covered by the allowlist, on runtime 13.3 to 18.x.
Otherwise it is skipped with what is missing, since a script the service refuses fails the
cluster, and with it the job.

Import fills in the `StandardAccess` a job is judged with (`server.services.job_import`) and
`server.onboard.qualify` judges each standard-access cluster with it; the planner checks an
onboarded cluster that became standard access since with `standard_access_blocker`.
`init_script_info` reads where the script lives (``TRIMTAB_INIT_SCRIPT``) into the InitScriptInfo
clusters run, and `script_location` reads one back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.spec import ListedEntry, access_mode_label, runtime_version, standard_access_mode, unlisted

# Standard access: why Trimtab's init script cannot go on the cluster (each says what an admin can do).
# The first runtime whose standard access runs allowlisted init scripts, and the first whose init
# scripts no longer see spark_env_vars (where the agent finds TRIMTAB_SERVER and its token).
STANDARD_ACCESS_FIRST_RUNTIME = (13, 3)
STANDARD_ACCESS_ENV_CUTOFF_RUNTIME = (19, 0)
REASON_STANDARD_ACCESS = "runs in standard (shared) access mode ({mode}), where {why}"
WHY_RUNTIME_UNKNOWN = ("init scripts run only from runtime 13.3 LTS, and its runtime {version!r} does not "
                       "say which it is; set a numbered spark_version (13.3 to 18.x) to onboard it")
WHY_RUNTIME_OLD = ("init scripts run only from runtime 13.3 LTS; its runtime is {version}: upgrade the "
                   "job to 13.3 to 18.x to onboard it")
WHY_RUNTIME_NEW = ("on runtime 19 and above init scripts see only Databricks' own environment variables, so "
                   "the agent would not find Trimtab (TRIMTAB_SERVER comes from spark_env_vars); its runtime "
                   "is {version}")
WHY_NOT_ALLOWABLE = ("only allowlisted init scripts in a Unity Catalog volume or cloud storage run, and "
                     "Trimtab's init script {script} is {kind}; set TRIMTAB_INIT_SCRIPT to a /Volumes path "
                     "(or an s3://, abfss://, gs:// URI) and allowlist it")
WHY_ALLOWLIST_UNREAD = ("only allowlisted init scripts run, and the metastore's INIT_SCRIPT allowlist could not "
                        "be read ({error}); a metastore admin can allowlist {script} and grant Trimtab's "
                        "token MANAGE ALLOWLIST on the metastore so import can check it")
WHY_NOT_ALLOWLISTED = ("only allowlisted init scripts run, and {script} is not on the metastore's INIT_SCRIPT "
                       "allowlist; a metastore admin can add it (or its folder) as PREFIX_MATCH")
# Where each InitScriptInfo kind lives, for the reason above.
_SCRIPT_KIND_WORDS = {"workspace": "a workspace file", "dbfs": "on DBFS", "file": "a local file on the node"}
# Kinds standard access can run (when allowlisted): Unity Catalog volumes and cloud storage.
ALLOWLISTABLE_KINDS = frozenset({"volumes", "s3", "abfss", "gcs"})
# The allowlist's only match type (databricks.sdk.service.catalog.MatchType; the REST reference also
# lists MATCH_TYPE_UNSPECIFIED, which matches nothing here): any other is not trusted to cover a path.
PREFIX_MATCH = "PREFIX_MATCH"


DEFAULT_INIT_SCRIPT = "/Shared/trimtab/trimtab-init.sh"
# Cloud storage URI schemes and the InitScriptInfo kind each is (`gs://` is the `gcs` kind).
_CLOUD_KINDS = (("s3://", "s3"), ("abfss://", "abfss"), ("gs://", "gcs"))


def init_script_info(location: str) -> dict[str, dict[str, str]]:
    """The InitScriptInfo for where Trimtab's init script lives (``TRIMTAB_INIT_SCRIPT``).

    ``/Volumes/<catalog>/<schema>/<volume>/...`` is a Unity Catalog volume, any other absolute
    path a workspace file, ``dbfs:/``, ``s3://``, ``abfss://`` and ``gs://`` URIs their kinds.
    Raises ValueError, saying what is accepted, for anything else.
    """
    text = location.strip()
    accepted = ("a workspace path (/Shared/...), a /Volumes/<catalog>/<schema>/<volume>/... path, "
                "or a dbfs:/, s3://, abfss:// or gs:// URI")
    if not text or text.endswith("/") or any(c.isspace() for c in text):
        raise ValueError(f"{location!r} is not an init script location: expected a file, {accepted}")
    if ".." in text.split("/"):
        raise ValueError(f"{location!r}: an init script path must not contain '..'")
    for scheme, kind in _CLOUD_KINDS:
        if text.startswith(scheme):
            if len(text) == len(scheme) or "/" not in text[len(scheme):]:
                raise ValueError(f"{location!r}: expected {scheme}<bucket or container>/<path to the script>")
            return {kind: {"destination": text}}
    if text.startswith("dbfs:/"):
        return {"dbfs": {"destination": text}}
    if text.startswith("/Volumes/") or text == "/Volumes":
        # A file sits inside a volume: /Volumes/catalog/schema/volume/file at least.
        if len([p for p in text.split("/") if p]) < 5:
            raise ValueError(f"{location!r}: expected /Volumes/<catalog>/<schema>/<volume>/<file>")
        return {"volumes": {"destination": text}}
    if text.startswith("/"):
        return {"workspace": {"destination": text}}
    raise ValueError(f"{location!r} is not an init script location: expected {accepted}")


def script_location(info: Mapping[str, Any]) -> tuple[str, str]:
    """An InitScriptInfo's kind and destination (``("", "")`` for one without a destination)."""
    for kind, value in info.items():
        if isinstance(value, Mapping) and value.get("destination"):
            return str(kind), str(value["destination"])
    return "", ""


@dataclass(frozen=True)
class AllowlistMatcher:
    """One entry of the metastore's INIT_SCRIPT allowlist."""

    artifact: str
    match_type: str = PREFIX_MATCH


@dataclass(frozen=True)
class StandardAccess:
    """What decides whether Trimtab's init script may go on a standard-access cluster.

    Import fills it in: the script the wiring puts on clusters and, once some job needs it, the
    metastore's INIT_SCRIPT allowlist (``allowlist`` None: not read; ``allowlist_error``: why it
    could not be read)."""

    init_script: Mapping[str, Any] = field(default_factory=lambda: init_script_info(DEFAULT_INIT_SCRIPT))
    allowlist: tuple[AllowlistMatcher, ...] | None = None
    allowlist_error: str = ""

    @property
    def allowlist_known(self) -> bool:
        return self.allowlist is not None or bool(self.allowlist_error)


def allowlisted(artifact: str, matchers: Sequence[AllowlistMatcher]) -> bool:
    """Whether a matcher covers ``artifact``: a PREFIX_MATCH equal to it, or a prefix of it that
    ends on a path-segment boundary (``/Volumes/a/b`` covers ``/Volumes/a/b/x.sh``, not
    ``/Volumes/a/bc/x.sh``). Stricter than a bare string prefix on purpose: onboarding must be
    certain the service runs the script, and a folder is what admins allowlist."""
    for matcher in matchers:
        if matcher.match_type != PREFIX_MATCH or not matcher.artifact:
            continue
        prefix = matcher.artifact
        if artifact == prefix or artifact.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


def allowlist_covers(access: StandardAccess) -> bool:
    """Whether the allowlist as read (``access.allowlist``) covers Trimtab's init script: what a cluster
    left out over the allowlist alone (`JobQualification.allowlist_bound`) waits for. The same test as
    `standard_access_problem`'s last ones, so a cluster it answers True for is onboarded when judged."""
    kind, destination = script_location(access.init_script)
    return kind in ALLOWLISTABLE_KINDS and not access.allowlist_error and access.allowlist is not None \
        and allowlisted(destination, access.allowlist)


def runtime_problem(spec: Mapping[str, Any]) -> str | None:
    """Why a standard-access cluster's runtime cannot run Trimtab's agent from an init script
    (outside 13.3 to 18.x, or unreadable); None when it can."""
    raw_version = spec.get("spark_version")
    version = runtime_version(raw_version)
    if version is None:
        return WHY_RUNTIME_UNKNOWN.format(version=str(raw_version or ""))
    shown = f"{version[0]}.{version[1]}"
    if version < STANDARD_ACCESS_FIRST_RUNTIME:
        return WHY_RUNTIME_OLD.format(version=shown)
    if version >= STANDARD_ACCESS_ENV_CUTOFF_RUNTIME:
        return WHY_RUNTIME_NEW.format(version=shown)
    return None


def standard_access_problem(spec: Mapping[str, Any], access: StandardAccess) -> str | None:
    """Why Trimtab's init script cannot safely go on this standard-access cluster; None when it can.

    "Unknown" is never safe: an unreadable runtime or an allowlist not read is a reason too."""
    why = runtime_problem(spec)
    if why is not None:
        return why
    kind, destination = script_location(access.init_script)
    if kind not in ALLOWLISTABLE_KINDS:
        return WHY_NOT_ALLOWABLE.format(script=destination or dict(access.init_script),
                                        kind=_SCRIPT_KIND_WORDS.get(kind, f"of kind {kind or 'unknown'}"))
    if access.allowlist_error:
        return WHY_ALLOWLIST_UNREAD.format(error=access.allowlist_error, script=destination)
    if access.allowlist is None:
        return WHY_ALLOWLIST_UNREAD.format(error="not read", script=destination)
    if not allowlisted(destination, access.allowlist):
        return WHY_NOT_ALLOWLISTED.format(script=destination)
    return None


def standard_access_blocker(spec: Mapping[str, Any], listed: ListedEntry = unlisted) -> str | None:
    """Why an onboarded cluster that is in standard access mode *now* cannot run Trimtab's agent,
    as far as its spec says; None when the spec does not say (or it is not standard access).

    Import reads the allowlist before onboarding such a cluster; this is for one that became
    standard access since (a user edit) or moved to another runtime. A runtime outside 13.3 to
    18.x, or an init script of a kind standard access never runs (a workspace or DBFS file), fails
    the cluster or blinds the agent whatever the allowlist says. Whether a volume or cloud script
    is allowlisted only the allowlist tells, so that case is not judged here. ``listed``: the price
    catalog's entry of a node type, which says whether it has GPUs (`server.spec.auto_is_standard`)."""
    if not standard_access_mode(spec, listed):
        return None
    mode = access_mode_label(spec)
    for script in [s for s in spec.get("init_scripts") or [] if isinstance(s, Mapping)]:
        kind, destination = script_location(script)
        if kind and kind not in ALLOWLISTABLE_KINDS:
            return REASON_STANDARD_ACCESS.format(mode=mode, why=(
                f"only allowlisted init scripts in a Unity Catalog volume or cloud storage run, and its init "
                f"script {destination} is {_SCRIPT_KIND_WORDS.get(kind, kind)}, so the cluster fails at start"))
    why = runtime_problem(spec)
    return REASON_STANDARD_ACCESS.format(mode=mode, why=why) if why is not None else None

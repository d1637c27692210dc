"""An application is found by its Spark application id (``app-2026...``, what Spark's UI shows) as well as
by Trimtab's id: `trimtab app show app-2026...` was NOT_FOUND. Both engines."""

from __future__ import annotations

import pytest

from server.domain import AgentInfo, Application, IngestBatch, IngestEvent
from server.errors import InvalidArgument, NotFound
from server.services.runs import get_application
from server.store import Store

SPARK_ID = "app-20261207101500-0000"


def _start(store: Store, app_id: str, spark_app_id: str, cluster_id: str) -> None:
    event = IngestEvent(app_id, "start", "application_start", Application(
        application_id=app_id, spark_app_id=spark_app_id, cluster_id=cluster_id, app_name="job", start_time_ms=1))
    store.ingest.write([IngestBatch(batch_id=f"b-{app_id}", agent=AgentInfo(agent_id="a1", cluster_id=cluster_id),
                                    events=(event,))])


def test_found_by_trimtab_id_or_spark_id(store: Store) -> None:
    _start(store, "5550001", SPARK_ID, "c-1")
    assert get_application(store, "5550001").spark_app_id == SPARK_ID
    assert get_application(store, SPARK_ID).application_id == "5550001"
    with pytest.raises(NotFound, match="app-nope"):
        get_application(store, "app-nope")


def test_a_spark_id_two_applications_share_names_both_rather_than_guess(store: Store) -> None:
    _start(store, "5550001", SPARK_ID, "c-1")
    _start(store, "7770001", SPARK_ID, "c-2")
    with pytest.raises(InvalidArgument, match="names 2 applications") as err:
        get_application(store, SPARK_ID)
    assert "5550001" in str(err.value) and "7770001" in str(err.value)

"""What the collector adds to a run's message and cost note: a purged cluster's note, the task
retries, and the not-priced note whose catalog version decides when a run is priced again.

Split from `server.collect.collector`, which re-exports these names.
"""

from __future__ import annotations

from server.collect.build import MESSAGE_CHARS
from server.render.fmt import cut

# What a run whose cluster Databricks no longer holds is priced on: its spec over its run's bounds.
GONE_NOTE = ("the cluster no longer exists in the workspace (purged): priced from the run's spec over "
             "its start and end, without the cluster's events")


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _with_retries(message: str, retried: int) -> str:
    """The run's message, saying how many task attempts failed and were retried (the run's time
    includes them; the outcome is the last attempts')."""
    if not retried:
        return message
    note = f"{retried} task attempt{'s' if retried > 1 else ''} failed and {'were' if retried > 1 else 'was'} retried"
    return cut(_joined(message, note), MESSAGE_CHARS, on_word=True)


# Said at the end of the message of a run the catalog could not price (the dashboard and
# `trimtab run show` show the message beside "not priced"), with the catalog version tried.
UNPRICED_MARK = "not priced with catalog "


def unpriced_note(catalog_version: str, why: str) -> str:
    """What a run the catalog ``catalog_version`` could not price says of it."""
    return f"{UNPRICED_MARK}{catalog_version}: {why}"


def unpriced_reason(message: str) -> str:
    """The not-priced note at the end of a run's message (`unpriced_note`), "" when it has none."""
    at = message.rfind(UNPRICED_MARK)
    return message[at:] if at >= 0 else ""


def without_unpriced_note(message: str) -> str:
    """The run's message without its not-priced note (the run is priced now)."""
    at = message.rfind(UNPRICED_MARK)
    return message if at < 0 else message[:at].rstrip().removesuffix(";")


def with_unpriced_note(message: str, note: str) -> str:
    """The run's message ending with ``note`` (in place of an older one); unchanged for no note. The
    message before it is cut to leave the note whole: its catalog version decides when to try again."""
    if not note:
        return message
    room = MESSAGE_CHARS - len(note) - 2
    if room <= 0:
        return cut(note, MESSAGE_CHARS, on_word=True)
    return _joined(cut(without_unpriced_note(message), room, on_word=True), note)

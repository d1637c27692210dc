"""What main()'s escaping stream (server.cli.output) must leave working: the demo's progress bar on a
terminal, and a stream whose encoding cannot hold a name."""

from __future__ import annotations

import io
import sys

import click
import pytest

from server.cli.output import VisibleStream, unescaped, visible_output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _draw(stream: io.TextIOBase) -> None:
    # As server/cli/demo.py draws it.
    with click.progressbar(length=2, label="running jobs", show_pos=True, file=stream) as bar:
        bar.label = "round 1: orders-etl-sla"
        bar.update(1)
        bar.update(1)


def test_the_demos_progress_bar_redraws_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with visible_output():
        stream = unescaped(click.get_text_stream("stderr"))
        assert stream is terminal
        _draw(stream)
    drawn = terminal.getvalue()
    assert "\r" in drawn and "\\r" not in drawn and "\\x1b" not in drawn
    # Through the escaping stream itself it would print its redraw codes as text (what the review saw).
    escaped = _Terminal()
    _draw(VisibleStream(escaped, json_raw=False))  # type: ignore[arg-type]
    assert "\\r" in escaped.getvalue()


def test_a_stream_that_cannot_encode_a_name_gets_escapes_not_a_traceback() -> None:
    raw = io.BytesIO()
    ascii_stream = io.TextIOWrapper(raw, encoding="ascii")
    out = VisibleStream(ascii_stream, json_raw=False)
    out.write("nightly-\u00e9tl \x1b]0;t\x07\n")
    ascii_stream.flush()
    assert raw.getvalue() == b"nightly-\\xe9tl \\x1b]0;t\\x07\n"

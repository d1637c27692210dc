"""Every line the CLI writes for people passes here: control characters in it are shown, not obeyed.

`main` puts `VisibleStream` over stdout and stderr for the whole command, so every command's text
(tables, `show` pages, notes, "error:" lines; a new command's too) is covered without each one
remembering to escape the names it prints. Click strips only CSI sequences, and only off a terminal:
an OSC 52 clipboard write in a job name reached the admin's terminal through `trimtab app list`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

from server.visible import visible

# What the layout itself uses: line breaks and (in a few notes) tabs. \r is not among them: a name
# holding one would overwrite the start of its line on a terminal.
LAYOUT = "\n\t"


def _json_stdout() -> bool:
    """The command runs with --json (root or subcommand flag): its stdout is `json.dumps` output,
    which escapes every control character itself and must stay byte for byte what scripts parse."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and bool(getattr(ctx.find_root().obj, "as_json", False))


class VisibleStream:
    """A text stream that writes `visible(text, LAYOUT)` to the stream under it; the rest (isatty,
    encoding, fileno, flush...) is the stream under it's, so click behaves as before (it strips
    colours off a pipe, keeps them on a terminal). ``json_raw``: written as it is under --json."""

    def __init__(self, stream: TextIO, *, json_raw: bool) -> None:
        self._stream = stream
        self._json_raw = json_raw

    def write(self, text: str) -> int:
        shown = text if self._json_raw and _json_stdout() else visible(text, LAYOUT)
        try:
            self._stream.write(shown)
        except UnicodeEncodeError:
            # A stream that cannot encode it (PYTHONIOENCODING=ascii): click would have written UTF-8
            # bytes through the hidden buffer; escapes instead, readable and never a traceback.
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            self._stream.write(shown.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)  # of what was given: the caller's count, not the escaped length

    @property
    def raw(self) -> TextIO:
        """The stream under this one, for output the CLI itself draws with control characters (the
        demo's progress bar redraws its line with \r and hides the cursor with ESC sequences)."""
        return self._stream

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            # Hidden: click writes through a text stream's binary buffer when it finds one (for a
            # stream it takes as ASCII-only, and for bytes), which would go round the escaping.
            raise AttributeError(name)
        return getattr(self._stream, name)


def unescaped(stream: TextIO) -> TextIO:
    """``stream`` without the escaping `visible_output` put over it (``stream`` itself otherwise)."""
    return stream.raw if isinstance(stream, VisibleStream) else stream


@contextmanager
def visible_output() -> Iterator[None]:
    """stdout and stderr as `VisibleStream` while the block runs; put back after (a test's capture
    or a host process keeps its own streams)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = VisibleStream(saved[0], json_raw=True)  # type: ignore[assignment]
    sys.stderr = VisibleStream(saved[1], json_raw=False)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved

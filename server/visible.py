"""Control characters shown, not obeyed: text from agents and workspaces as a terminal or a log prints it.

Names Trimtab stores come from outside (a job's name from anyone who may edit the job, an agent's
version and hostname from any agent token, Spark's app name and user from the job's code). Printed
raw, ``\\x1b]52;c;...\\x07`` writes the reader's clipboard, ``\\x1b]0;...\\x07`` retitles the window,
``\\x1b[2J`` clears the screen and ``\\r`` or ``\\n`` draws a line the reader takes for Trimtab's own.
The bidirectional overrides and isolates (U+202A-202E, U+2066-2069) print nothing and reorder what
follows: a job named ``etl\\u202egnp.exe`` reads "etlexe.png", and a cell can make its row read as
another's. `visible` writes each such character as its escape (``\\x1b``, ``\\u202e``): the name stays
readable and inert.
"""

from __future__ import annotations

# C0 (0x00-0x1f), DEL and C1 (0x80-0x9f): C1 too, as a terminal may read 0x9b alone as CSI and
# 0x9d as OSC.
CONTROLS = frozenset((*range(0x20), 0x7F, *range(0x80, 0xA0)))
# LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI (Unicode's bidirectional formatting characters that
# reorder; the marks LRM/RLM only nudge a neighbour and are left alone).
BIDI = frozenset((*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# As Python's repr writes them: \n, \r and \t by name, the rest as \xNN (\uNNNN above 0xff).
_ESCAPES = {code: {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code, f"\\x{code:02x}") for code in CONTROLS}
_ESCAPES.update({code: f"\\u{code:04x}" for code in BIDI})
# Built once per `keep`: str.translate over a dict is the fast path (a log line, every CLI write).
_TABLES: dict[str, dict[int, str]] = {}


def visible(text: str, keep: str = "") -> str:
    """``text`` with each control and bidi character written as its escape (``\\x1b``), but those in ``keep``
    (``"\\n\\t"`` where the layout itself breaks lines and aligns columns)."""
    table = _TABLES.get(keep)
    if table is None:
        table = _TABLES[keep] = {c: e for c, e in _ESCAPES.items() if chr(c) not in keep}
    return text.translate(table)

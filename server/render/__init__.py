"""Draw a `server.timeline.ProjectTimeline`: terminal text, PNG (matplotlib Agg), HTML with inline SVG.

Every renderer draws the same things (points, SLA line, phase bands, apply
markers, annotated anomalies) so the CLI, the files and the dashboard agree.
"""

from __future__ import annotations

from pathlib import Path

from server.timeline import ProjectTimeline


def write_timeline(timeline: ProjectTimeline, path: Path) -> Path:
    """Write the chart to `path`; the suffix picks the format (.png, .html/.htm, .svg)."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        from server.render.png import timeline_png

        path.write_bytes(timeline_png(timeline))
    elif suffix in (".html", ".htm"):
        from server.render.html import timeline_page

        path.write_text(timeline_page(timeline), encoding="utf-8")
    elif suffix == ".svg":
        from server.render.svg import timeline_svg

        path.write_text(timeline_svg(timeline), encoding="utf-8")
    else:
        raise ValueError(f"cannot write a timeline as {suffix or 'a file without suffix'}: use .png, .html or .svg")
    return path

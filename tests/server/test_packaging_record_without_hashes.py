"""An installed Trimtab whose RECORD carries no hashes (as some installers write it) is refused as the
agent wheel's source: re-packing only the files with a hash made a wheel of nothing, which clusters
would have installed as the agent (commit 14b4aef). The real wheel, installed by pip into a venv in tmp,
its RECORD then rewritten without hashes; the server's code run from there, outside the checkout."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.server.test_packaging import _install, _outside_env, _run, built  # noqa: F401 - `built`: a fixture

PROBE = """\
from server.services import agent_wheel
import zipfile
try:
    wheel = agent_wheel.agent_wheel_file()
except Exception as exc:
    print(f"refused: {exc}")
else:
    print(f"made {wheel.name} holding {len(zipfile.ZipFile(wheel).namelist())} file(s)")
"""


def _strip_hashes(record: Path) -> int:
    """RECORD rewritten with every hash and size left empty; how many hashes there were."""
    rows = list(csv.reader(io.StringIO(record.read_text())))
    hashed = sum(1 for row in rows if len(row) == 3 and row[1])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([row[0], "", ""] for row in rows)
    record.write_text(out.getvalue())
    return hashed


def test_an_installed_record_without_hashes_is_refused(built: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    python = _install(built[0], tmp_path / "v")
    [record] = (tmp_path / "v" / "lib").glob("python3*/site-packages/trimtab-*.dist-info/RECORD")
    assert _strip_hashes(record) > 100  # pip wrote one for each of the wheel's files
    said = _run(python, "-c", PROBE, cwd=tmp_path, env=_outside_env()).strip()
    assert said.startswith("refused: no agent wheel to upload: this server runs neither from its source tree"), said
    assert "nor from an installed wheel whose RECORD lists agent_wheel.py with its hash" in said, said
    assert "set TRIMTAB_AGENT_WHEEL_LOCATION to where clusters can install trimtab-" in said, said

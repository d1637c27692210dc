"""Every bad option value is a usage mistake: exit 2 and one `error:` line on stderr (README: 2 = usage).

The review's cases (--db with a driver or an unencoded '@', server start --advertise http://x:1,
--log-level verbose) exited 1 before the configuration errors were made usage errors; they are kept
here together with the empty and unitless values. click wrote a missing choice on several lines
("Choose from:" then a line per choice), which a log or a script reading one line cut short.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.main import main

pytestmark = pytest.mark.usefixtures("nothing_from_the_environment")


CASES = [
    (["token", "list", "--db", ""], "error: Invalid value for '--db': ''"),
    (["token", "list", "--db", "postgresql+psycopg2://u@db/x"], "error: setting db_url (--db): the postgresql+psycopg2 "),
    (["token", "list", "--db", "postgresql://u:p@ss:w@db/x"], "error: setting db_url (--db): not a valid URL; "),
    (["server", "start", "--advertise", "http://x:1"], "error: setting advertise (--advertise): 'http://x:1' is not "),
    (["server", "start", "--log-level", "verbose"], "error: setting log_level (--log-level): 'verbose' is not one "),
    (["project", "set", "p", "--sla", "45"], "error: Invalid value for '--sla': '45': add a unit"),
    (["token", "create", "--name", "ci"], "error: Missing option '--scope'. Choose from: agent, admin"),
    (["workspace", "add", "w", "--host", "https://x", "--token-env", "X"],
     "error: Missing option '--cloud'. Choose from: aws, azure"),
]


@pytest.mark.parametrize(("args", "line"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_bad_value_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str],
                                           line: str) -> None:
    if args[:2] == ["server", "start"]:
        args = [*args, "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")]
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith(line) and err.count("\n") == 1, err
    assert not (tmp_path / "state" / "trimtab.db").exists()  # refused before anything is opened

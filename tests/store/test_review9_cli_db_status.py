"""`trimtab db status` where there is no database (review 9): `--state-dir /typo` or `--db` naming a
SQLite file that does not exist reported "behind 8 migrations: `trimtab db upgrade` applies them"
with exit 0, while `token list` said "no Trimtab database at ...". Now it says that too, exits 2 (a
setting to fix, review clifix 6), and creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.store_options import NO_DATABASE_HINT
from tests.inprocess_cli import run_cli as _run


@pytest.mark.parametrize("as_json", [False, True])
def test_a_state_dir_typo_is_no_database(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    monkeypatch.delenv("TRIMTAB_DB", raising=False)
    typo = tmp_path / "typo"
    code, out, err = _run(capsys, *(["--json"] if as_json else []), "db", "status", "--state-dir", str(typo))
    assert code == 2 and out == ""
    assert f"error: no Trimtab database at sqlite:///{typo / 'trimtab.db'}" in err
    assert "behind" not in err and NO_DATABASE_HINT in err
    assert not typo.exists()


def test_a_missing_sqlite_file_is_no_database_and_stays_missing(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.db"
    code, out, err = _run(capsys, "db", "status", "--db", f"sqlite:///{path}")
    assert code == 2 and out == "" and f"no Trimtab database at sqlite:///{path}" in err
    assert not path.exists()
    # The same words as `token list` on the same place.
    code, _, token_err = _run(capsys, "token", "list", "--db", f"sqlite:///{path}")
    assert code == 2 and f"no Trimtab database at sqlite:///{path}" in token_err
    assert not path.exists()


def test_a_directory_named_as_the_database_file_is_no_database(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "db", "status", "--db", f"sqlite:///{tmp_path}")
    assert code == 2 and "no Trimtab database at" in err

"""`TRIMTAB_TLS_CA` naming a file that cannot be read (review 9): the error names the variable, not
only the path (``error: [Errno 2] No such file or directory: '/nonexistent'``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Trimtab


def test_a_missing_ca_file_names_the_variable(trimtab: Trimtab, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nonexistent.pem"
    monkeypatch.setenv("TRIMTAB_TLS_CA", str(missing))
    code, out, err = trimtab("project", "list")
    assert code == 2 and out == ""
    assert err.startswith("error: TRIMTAB_TLS_CA") and str(missing) in err and "No such file" in err
    assert "Errno" not in err and len(err.strip().splitlines()) == 1


def test_a_directory_or_empty_file_names_the_variable(trimtab: Trimtab, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_TLS_CA", str(tmp_path))
    code, _, err = trimtab("project", "list")
    assert code == 2 and "TRIMTAB_TLS_CA" in err and "Errno" not in err
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    monkeypatch.setenv("TRIMTAB_TLS_CA", str(empty))
    code, _, err = trimtab("project", "list")
    assert code == 2 and "TRIMTAB_TLS_CA" in err and "empty" in err

"""A configuration file's values are typed by TOML: wrong types are refused, naming where they came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import load_config
from server.errors import InvalidArgument


def _load(tmp_path: Path, text: str, **env: str) -> object:
    (tmp_path / "server.toml").write_text(text)
    return load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path), **env})


@pytest.mark.parametrize(("text", "why"), [
    ("workers = 2.7", "workers ({file}): 2.7 is not a whole number"),  # was truncated to 2
    ("grace_seconds = true", "grace_seconds ({file}): true is not a float"),  # was 1.0 s
    ("grace_seconds = \"ten\"", "grace_seconds ({file}): 'ten' is not a valid float"),  # named the env var
    ("listen = 8080", "listen ({file}): 8080 is not text (quote it in the file)"),
    ("tls_cert = false", "tls_cert ({file}): false is not a path"),
])
def test_wrong_types_in_the_file_are_refused_and_the_file_is_named(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        _load(tmp_path, text)
    assert str(raised.value) == "setting " + why.format(file=tmp_path / "server.toml")


def test_switches_take_true_and_false_and_whole_floats_are_counts(tmp_path: Path) -> None:
    config = _load(tmp_path, "collect = false\nmigrate = true\nworkers = 4.0\ngrace_seconds = 3")
    assert (config.collect, config.migrate, config.workers, config.grace_seconds) == (0, 1, 4, 3.0)


def test_the_environment_and_flags_are_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"setting workers \(TRIMTAB_WORKERS\): '2.5' is not a valid int"):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_WORKERS": "2.5"})
    with pytest.raises(InvalidArgument, match=r"setting workers \(--workers\): 'x' is not a valid int"):
        load_config({"workers": "x"}, env={"TRIMTAB_STATE_DIR": str(tmp_path)})

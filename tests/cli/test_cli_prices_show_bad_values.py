"""`prices show` refuses a --region or --node-type the catalog does not know as the bad option value
it is (exit 2, one line), and shows a node type on the clouds that know it when no --cloud is given.

Before, both exited 1 like a failure while running, and `prices show --node-type m5d.xlarge` failed
with "unknown node type 'm5d.xlarge' on azure" although AWS prices it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cli.main import main


def _run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["prices", "show", "--state-dir", str(tmp_path / "state"), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("args", "line"), [
    (["--cloud", "aws", "--region", "mars-1"],
     "error: Invalid value for '--region': unknown region 'mars-1' on aws: the price catalog has prices for "),
    (["--region", "mars-1"], "error: Invalid value for '--region': unknown region 'mars-1' on aws or azure: "),
    (["--cloud", "aws", "--node-type", "m5.mega"],
     "error: Invalid value for '--node-type': unknown node type 'm5.mega' on aws: "),
    (["--node-type", "m5.mega"], "error: Invalid value for '--node-type': unknown node type 'm5.mega' on aws or azure"),
    (["--region", "eastus", "--node-type", "m5d.xlarge"],
     "error: Invalid value for '--node-type': unknown node type 'm5d.xlarge' on azure: "),
], ids=["region", "region-any-cloud", "node-type", "node-type-any-cloud", "node-type-not-in-region's-cloud"])
def test_a_value_the_catalog_does_not_know_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          args: list[str], line: str) -> None:
    code, out, err = _run(capsys, tmp_path, *args)
    assert (code, out) == (2, "")
    assert err.startswith(line) and err.count("\n") == 1, err


def test_a_node_type_without_cloud_is_shown_where_it_is_priced(capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    code, out, err = _run(capsys, tmp_path, "--json", "--node-type", "m5d.xlarge", "--node-type", "Standard_D4s_v5")
    assert code == 0, err
    shown = {(n["cloud"], n["node_type"]) for n in json.loads(out)["nodes"]}
    assert {c for c, _ in shown} == {"aws", "azure"}
    assert {t for c, t in shown if c == "aws"} == {"m5d.xlarge"}
    assert {t for c, t in shown if c == "azure"} == {"Standard_D4s_v5"}


@pytest.mark.parametrize("command", ["show", "update"])
def test_a_catalog_directory_without_a_catalog_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                               command: str) -> None:
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    code = main(["prices", command, "--catalog", str(tmp_path / "empty"), "--state-dir", str(tmp_path / "state"),
                 *(["--cloud", "azure", "--azure-endpoint-url", "http://127.0.0.1:9"] if command == "update" else [])])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("error: Invalid value for '--catalog': cannot read price catalog file ") and \
        err.count("\n") == 1, err

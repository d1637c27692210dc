"""Bad input on the CLI (review 13): each is refused with a clear message (a usage mistake exits 2) and
loses nothing already accepted. Real server, real CLI, real SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import Project
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import Trimtab, shown


@pytest.mark.parametrize("job", ["99999999999999999999999", str(2**63), "0", "-5"])
def test_a_job_id_past_int64_or_below_one_is_a_usage_error(job: str, trimtab: Trimtab) -> None:
    # Before: past int64 the protobuf encoder's "Value out of range" was the message, exit 1.
    for args in (("workspace", "import", "prod", "--job", job), ("--json", "workspace", "import", "prod", "--job", job)):
        code, out, err = trimtab(*args)
        assert code == 2 and out == "", err
        assert "'--job'" in err and "Value out of range" not in err


def test_the_largest_job_id_reaches_the_server(trimtab: Trimtab) -> None:
    code, _, err = trimtab("workspace", "import", "prod", "--job", str(2**63 - 1))
    assert code == 1 and "prod" in err and "Value out of range" not in err  # no such workspace: the server's answer


def test_a_blank_families_or_driver_type_is_refused_and_keeps_the_restriction(
        trimtab: Trimtab, nightly: Project, cli_store: Store) -> None:
    # Before: --allowed-families "$FAMILIES" --driver-type "$DRIVER" with both unset wiped both, exit 0.
    pid = str(nightly.id)
    code, _, err = trimtab("project", "set", pid, "--allowed-families", "m5d,r5d", "--driver-type", "m5d.xlarge")
    assert code == 0, err
    for args, option in ((("--allowed-families", ""), "--allowed-families"),
                         (("--allowed-families", " , "), "--allowed-families"),
                         (("--driver-type", ""), "--driver-type"), (("--driver-type", "  "), "--driver-type"),
                         (("--allowed-families", "", "--driver-type", ""), "--allowed-families")):
        code, out, err = trimtab("project", "set", pid, *args)
        assert code == 2 and out == "", (args, err)
        assert f"'{option}'" in err and "an empty value is most often an unset shell variable" in err
    settings = cli_store.projects.get(int(pid)).settings
    assert settings.allowed_families == ("m5d", "r5d") and settings.driver_node_type_id == "m5d.xlarge"
    code, out, _ = trimtab("project", "show", pid)
    assert shown(out, "families") == ["m5d,r5d"] and shown(out, "driver") == ["m5d.xlarge"]


def test_any_and_auto_clear_them(trimtab: Trimtab, nightly: Project, cli_store: Store) -> None:
    pid = str(nightly.id)
    assert trimtab("project", "set", pid, "--allowed-families", "m5d", "--driver-type", "m5d.xlarge")[0] == 0
    code, out, err = trimtab("project", "set", pid, "--allowed-families", "ANY", "--driver-type", "auto")
    assert code == 0, err
    assert shown(out, "families") == ["any"] and shown(out, "driver") == ["chosen by Trimtab"]
    settings = cli_store.projects.get(int(pid)).settings
    assert settings.allowed_families == () and settings.driver_node_type_id is None
    # 'any' with families beside it says neither thing clearly.
    code, _, err = trimtab("project", "set", pid, "--allowed-families", "m5d,any")
    assert code == 2 and "'any' allows every family: give it alone" in err


def test_the_help_shows_the_words(trimtab: Trimtab) -> None:
    code, out, _ = trimtab("project", "set", "--help")
    assert code == 0
    assert "'any' for every family" in out and "'auto' to let Trimtab choose" in out and "''" not in out


def test_the_api_refuses_a_fractional_sla_as_the_cli_does(cli_server: RunningServer, cli_store: Store,
                                                           nightly: Project, trimtab: Trimtab) -> None:
    # Before: sla_seconds=90.5 was kept, and shown as 1m31s (the CLI refuses 90.5s: whole seconds).
    _, token = cli_store.tokens.create("api", "admin")
    with grpc.insecure_channel(cli_server.address) as channel:
        stub = admin_pb2_grpc.ProjectServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
                project=str(nightly.id), settings=admin_pb2.ProjectSettings(sla_seconds=90.5)),
                metadata=[("authorization", f"Bearer {token}")], timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "settings.sla_seconds: 90.5 is not whole seconds" in (refused.value.details() or "")
        reply = stub.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
            project=str(nightly.id), settings=admin_pb2.ProjectSettings(sla_seconds=90.0)),
            metadata=[("authorization", f"Bearer {token}")], timeout=10)
        assert reply.settings.sla_seconds == 90.0
    assert cli_store.projects.get(int(nightly.id or 0)).settings.sla_seconds == 90.0
    code, _, err = trimtab("project", "set", str(nightly.id), "--sla", "90.5s")
    assert code == 2 and "a duration is whole seconds" in err


def test_json_timeline_out_prints_json(trimtab: Trimtab, nightly: Project, tmp_path: Path) -> None:
    # Before: `trimtab --json timeline P --out F` printed "wrote F (0 runs)", which a script's `| jq` cannot read.
    target = tmp_path / "t.svg"
    code, out, err = trimtab("--json", "timeline", str(nightly.id), "--out", str(target))
    assert code == 0, err
    assert json.loads(out) == {"out": str(target), "runs": 0}
    assert target.read_text().lstrip().startswith("<")
    code, out, _ = trimtab("timeline", str(nightly.id), "--out", str(target))
    assert code == 0 and out == f"wrote {target} (0 runs)\n"


@pytest.mark.parametrize("sla", ["0", "0.0", "0s", "0m"])
def test_a_zero_sla_is_told_it_must_be_positive(sla: str, trimtab: Trimtab, nightly: Project) -> None:
    # Before: a bare 0 was told to add a unit, though 0 with any unit is refused too.
    code, _, err = trimtab("project", "set", str(nightly.id), "--sla", sla)
    assert code == 2 and f"{sla!r}: a duration must be positive" in err and "add a unit" not in err


@pytest.mark.parametrize("sla", ["\u0664\u0665m", "\u0664\u0665", "1h\u0663\u0660m", "\uff14\uff15m"])
def test_an_sla_takes_ascii_digits_only(sla: str, trimtab: Trimtab, nightly: Project, cli_store: Store) -> None:
    # Before: Arabic-Indic "٤٥m" was taken as 45m, while --min-workers and ids refuse such digits.
    code, _, err = trimtab("project", "set", str(nightly.id), "--sla", sla)
    assert code == 2 and "'--sla'" in err, err
    assert cli_store.projects.get(int(nightly.id or 0)).settings.sla_seconds is None


def test_a_server_address_takes_ascii_digits_only(trimtab: Trimtab) -> None:
    # After the subcommand: `trimtab()` gave the root's --server already, and one option given twice
    # to the same command is refused (server/cli/repeats.py).
    code, _, err = trimtab("project", "list", "--server", "127.0.0.1:\u0665\u0660\u0660\u0665\u0661")
    assert code == 2 and "is not HOST:PORT" in err, err

"""Bad input on the CLI (review 13): each is refused with a clear message (a usage mistake exits 2) and
loses nothing already accepted. Real server, real CLI, real SQLite."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Trimtab


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

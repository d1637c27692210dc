"""docs/agent.md lists every agent setting as agent/config.py has it.

Nine variables (RPC timeout, backoffs, batch age, checkpoint and REST intervals, the config file,
the token variable, the driver env file) were in the code and in no page an operator reads.
"""

from __future__ import annotations

from pathlib import Path

from agent.config import SETTINGS, settings_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent.md"


def test_agent_md_holds_the_settings_table_made_from_the_code() -> None:
    doc = DOC.read_text()
    assert settings_markdown() in doc, "docs/agent.md: paste agent.config.settings_markdown() again"


def test_every_setting_with_a_variable_is_in_the_table_with_a_description() -> None:
    table = settings_markdown()
    for s in SETTINGS:
        if s.env:
            assert f"`{s.env}`" in table, s.name
            assert s.help, f"setting {s.name} has no help text for the docs"
    assert "TRIMTAB_AGENT_CONFIG" in DOC.read_text()


def test_bounds_and_switch_defaults_read_as_an_operator_writes_them() -> None:
    table = settings_markdown()
    assert "| `TRIMTAB_TLS` | `0` |" in table  # the variable takes 1/0, not Python's False
    assert "at most 1073741824" in table  # whole numbers, not 1.07374e+09
    assert "token itself" not in table  # no variable of its own: documented beside the table


def test_every_config_file_key_is_documented() -> None:
    """The config file's `token` key (no variable, so not in the table) was documented nowhere."""
    doc = DOC.read_text()
    for s in SETTINGS:
        assert f"`{s.name}`" in doc, s.name

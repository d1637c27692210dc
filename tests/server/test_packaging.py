"""Trimtab installed from its wheel, outside the checkout, as a user installs it.

The wheel and the sdist are built once (``pip wheel`` and setuptools' ``build_sdist`` on a copy of the
source tree, with this environment's setuptools, ~5 s), and the wheel installed into a venv in tmp
(``--system-site-packages`` for its dependencies, ``--no-deps``: no package index) that runs from tmp
without PYTHONPATH, so it imports the installed copy, not the checkout."""

from __future__ import annotations

import base64
import csv
import email.parser
import ensurepip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from server.errors import FailedPrecondition
from server.services import agent_wheel

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "agent", "server", "models", "protos", "sandbox", "init_scripts")
SCRIPT = "init_scripts/trimtab-init.sh"


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _outside_env() -> dict[str, str]:
    """This environment, less what would make a child import the checkout instead of what is installed."""
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH"}}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) of a copy of the source tree."""
    root = tmp_path_factory.mktemp("build")
    src = root / "src"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "-w", root / "dist", src, cwd=root)
    _run(sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(root / 'dist')!r})",
         cwd=src)
    return next((root / "dist").glob("trimtab-*.whl")), next((root / "dist").glob("trimtab-*.tar.gz"))


def _install(wheel: Path, venv: Path) -> Path:
    """The python of a venv at ``venv`` with ``wheel`` installed (its dependencies: this environment's)."""
    _run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check", wheel,
         cwd=venv.parent, env=_outside_env())
    return python


@pytest.fixture(scope="module")
def installed(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(built[0], tmp_path_factory.mktemp("venv") / "v")


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as whl:
        name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(whl.read(name).decode())


def test_the_wheel_and_the_sdist_carry_the_init_script_and_the_license(built: tuple[Path, Path]) -> None:
    # Import uploads the init script: an installed server without it onboarded jobs whose clusters
    # then failed to start (INIT_SCRIPT_FAILURE).
    wheel, sdist = built
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        assert whl.read(SCRIPT) == (REPO / SCRIPT).read_bytes()
        licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        assert whl.read(licence) == (REPO / "LICENSE").read_bytes()
    assert not [n for n in names if n.startswith("tests/")]
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        assert tar.extractfile(f"{top}/{SCRIPT}").read() == (REPO / SCRIPT).read_bytes()  # type: ignore[union-attr]
        assert tar.extractfile(f"{top}/LICENSE").read() == (REPO / "LICENSE").read_bytes()  # type: ignore[union-attr]
    # The SPDX expression (PEP 639), not the table setuptools stops building after 2027-02-18.
    assert _metadata(wheel)["License-Expression"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_server_extra_builds_the_agent_wheel_and_leaves_the_cloud_stand_ins_to_the_sandbox_extra(
        built: tuple[Path, Path]) -> None:
    requires = _metadata(built[0]).get_all("Requires-Dist") or []

    def of(extra: str) -> list[str]:
        return [r.split(";")[0].strip() for r in requires if f'extra == "{extra}"' in r]

    # `pip wheel --no-build-isolation` builds with the server's own setuptools: 3.12 venvs have none.
    assert "setuptools>=77" in of("server")
    # moto's server and its ~60 packages are only for `sandbox up --clouds`.
    assert not [r for r in of("server") if r.startswith("moto")]
    assert "moto[server]>=5.0" in of("sandbox")
    assert [r for r in of("dev") if r.startswith("trimtab[")] == ["trimtab[sandbox,server]"]  # sorted by setuptools


def test_an_installed_server_finds_its_init_script_and_repacks_its_own_wheel(
        built: tuple[Path, Path], installed: Path, tmp_path: Path) -> None:
    probe = textwrap.dedent("""
        import json, sys
        from server.services import agent_install
        wheel = agent_install.agent_wheel_file()
        print(json.dumps({"module": agent_install.__file__, "script": str(agent_install.INIT_SCRIPT),
                          "exists": agent_install.INIT_SCRIPT.is_file(), "wheel": wheel.name,
                          "bytes": wheel.read_bytes().hex()}))
    """)
    said = json.loads(_run(installed, "-c", probe, cwd=tmp_path, env=_outside_env()).splitlines()[-1])
    site = installed.parent.parent
    assert Path(said["module"]).is_relative_to(site), said["module"]  # the installed copy ran
    assert said["exists"] and Path(said["script"]).read_bytes() == (REPO / SCRIPT).read_bytes()
    assert said["wheel"] == built[0].name
    repacked = tmp_path / said["wheel"]
    repacked.write_bytes(bytes.fromhex(said["bytes"]))
    with zipfile.ZipFile(built[0]) as original, zipfile.ZipFile(repacked) as again:
        assert again.testzip() is None
        assert sorted(again.namelist()) == sorted(original.namelist())  # nothing of the installer's
        record = next(n for n in again.namelist() if n.endswith(".dist-info/RECORD"))
        for line in again.read(record).decode().splitlines():
            name, digest, size = line.rsplit(",", 2)
            if name == record:
                continue
            data = again.read(name)
            assert data == original.read(name), name
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={expected}", len(data)), name
        assert sorted(again.read(record).decode().splitlines()) == sorted(original.read(record).decode().splitlines())
    # pip takes it as a wheel: the agent's command is installed from it.
    venv = tmp_path / "agent"
    _run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv, cwd=tmp_path)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--disable-pip-version-check", repacked, cwd=tmp_path, env=_outside_env())
    assert "Trimtab's Spark event-log agent" in _run(venv / "bin" / "trimtab-agent", "--help", cwd=tmp_path,
                                                      env=_outside_env())


def test_an_installed_file_changed_since_is_not_repacked(installed: Path, tmp_path: Path) -> None:
    # The clusters would run code no release had: said, with the way out, instead. On a copy of the
    # module's venv (a venv finds its prefix from where it lies): the other tests' install stays as pip left it.
    shutil.copytree(installed.parent.parent, tmp_path / "v", symlinks=True)
    python = tmp_path / "v" / "bin" / "python"
    edited = next((tmp_path / "v" / "lib").glob("python3*/site-packages/agent/__init__.py"))
    edited.write_text(edited.read_text() + "# edited in place\n")
    probe = ("from server.services import agent_wheel\n"
             "try:\n    agent_wheel.agent_wheel_file()\nexcept Exception as exc:\n    print(exc)\n")
    said = _run(python, "-c", probe, cwd=tmp_path, env=_outside_env())
    assert f"the installed file {edited} differs from the wheel trimtab was installed from" in said, said
    assert "TRIMTAB_AGENT_WHEEL_LOCATION" in said


# An installed Trimtab whose RECORD carries no hashes (as some installers write it) is refused as the
# agent wheel's source: re-packing only the files with a hash made a wheel of nothing, which clusters
# would have installed as the agent (commit 14b4aef). Here, not in a module of its own, to share the
# module's wheel and installed venv (a module of its own built and installed them again).
RECORD_PROBE = """\
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


def test_an_installed_record_without_hashes_is_refused(installed: Path, tmp_path: Path) -> None:
    # On a copy of the module's venv, the real wheel as pip installed it, its RECORD then rewritten.
    shutil.copytree(installed.parent.parent, tmp_path / "v", symlinks=True)
    python = tmp_path / "v" / "bin" / "python"
    [record] = (tmp_path / "v" / "lib").glob("python3*/site-packages/trimtab-*.dist-info/RECORD")
    assert _strip_hashes(record) > 100  # pip wrote one for each of the wheel's files
    said = _run(python, "-c", RECORD_PROBE, cwd=tmp_path, env=_outside_env()).strip()
    assert said.startswith("refused: no agent wheel to upload: this server runs neither from its source tree"), said
    assert "nor from an installed wheel whose RECORD lists agent_wheel.py with its hash" in said, said
    assert "set TRIMTAB_AGENT_WHEEL_LOCATION to where clusters can install trimtab-" in said, said


def test_building_without_setuptools_says_what_pip_said(tmp_path: Path) -> None:
    # A Python 3.12 venv installed with the server extra before it carried setuptools: the import said
    # "could not build the agent wheel from ...: _gcd_import", a traceback's fragment.
    venv = tmp_path / "v"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)  # no trimtab and no setuptools>=77
    # The pip `python -m venv` installs (ensurepip's bundled wheel), put on the venv's path as the zip
    # it ships in: installing it and then uninstalling the setuptools it brings took ~10 s for the same
    # venv, a pip with no setuptools beside it.
    bundled = next((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))
    (next((venv / "lib").glob("python3*/site-packages")) / "bundled_pip.pth").write_text(f"{bundled}\n")
    python = venv / "bin" / "python"
    probe = subprocess.run([python, "-c", "import pip, setuptools"], capture_output=True, text=True,
                           env=_outside_env(), check=False)
    assert "No module named 'setuptools'" in probe.stderr, probe.stderr  # pip imported, setuptools did not
    with pytest.raises(FailedPrecondition) as err:
        agent_wheel._build_wheel(tmp_path / "work", python=str(python))
    assert "ModuleNotFoundError: No module named 'setuptools'" in err.value.message
    assert "_gcd_import" not in err.value.message and "Traceback" not in err.value.message
    assert "pip install 'trimtab[server]'" in err.value.message


def test_pip_reason_takes_a_backends_own_error_over_pips_wrappers() -> None:
    # setuptools 65 (a Python 3.11 venv's) on the SPDX license string, as pip relays it.
    output = textwrap.dedent("""\
          error: subprocess-exited-with-error
          × Preparing metadata (pyproject.toml) did not run successfully.
          ╰─> [40 lines of output]
                  raise ValueError(f"{error}\\n{summary}") from None
              ValueError: invalid pyproject.toml config: `project.license`.
              configuration error: `project.license` must be valid exactly by one definition (2 matches found):
              [end of output]
          note: This error originates from a subprocess, and is likely not a problem with pip.
        error: metadata-generation-failed
        × Encountered error while generating package metadata.
        hint: See above for details.
        """)
    assert agent_wheel.pip_reason(output) == "ValueError: invalid pyproject.toml config: `project.license`."
    assert agent_wheel.pip_reason("") == "pip wheel failed and said nothing"

"""Trimtab's wheel and sdist, as a user installs them.

The wheel and the sdist are built once (``pip wheel`` and setuptools' ``build_sdist`` on a copy of the
source tree, with this environment's setuptools, ~5 s)."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "agent", "server", "models", "protos", "sandbox", "init_scripts")
SCRIPT = "init_scripts/trimtab-init.sh"


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


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

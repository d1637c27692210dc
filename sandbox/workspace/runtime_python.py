"""The sandbox's stand-in for a Databricks runtime's own Python (``/databricks/python3``).

Trimtab's init script installs the agent with ``<runtime python> -m venv`` and ``pip install
<wheel>``. On Databricks pip fetches the wheel's dependencies from PyPI; the sandbox has no index
to count on, so its runtime Python makes venvs that already see the emulator's own packages
(grpcio, protobuf, the codecs: what a runtime ships anyway) and nothing of trimtab itself, so
``pip install`` of the wheel really installs it, offline, and creates ``bin/trimtab-agent``.

The shim `write_shim` puts at ``<node root>/databricks/python3/bin/python3`` turns
``-m venv <dir>`` into `main`; any other arguments go to Python as is.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

# Distributions left out of what a venv sees: trimtab itself (the wheel must be what runs).
_HIDDEN = ("trimtab", "__editable__")


def runtime_site(cache: Path) -> Path:
    """A directory of links to the emulator's site-packages, trimtab's own entries left out."""
    target = cache / "runtime-site"
    if target.is_dir():
        return target
    partial = cache / f".runtime-site.{os.getpid()}"
    partial.mkdir(parents=True, exist_ok=True)
    for folder in site.getsitepackages():
        for entry in Path(folder).iterdir():
            name = entry.name.lower()
            if any(name.startswith(h) for h in _HIDDEN) or "trimtab" in name:
                continue
            link = partial / entry.name
            if not link.exists():
                link.symlink_to(entry)
    try:
        partial.rename(target)
    except OSError:  # another node made it first: its copy is the same
        shutil.rmtree(partial, ignore_errors=True)
    return target


def make_venv(venv: Path, cache: Path) -> int:
    """``python -m venv <venv>`` seeing the runtime's packages (pip included) but not trimtab."""
    code = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=False).returncode
    if code != 0:
        return code
    pyver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    packages = venv / "lib" / pyver / "site-packages"
    # addsitedir, not a plain path line: the linked .pth files (a CA bundle hook) are processed too.
    (packages / "_sandbox_runtime.pth").write_text(
        f"import site; site.addsitedir({str(runtime_site(cache))!r})\n")
    return 0


def write_shim(fs_root: Path, cache: Path) -> Path:
    """The node's ``/databricks/python3/bin/python3``: `make_venv` for ``-m venv``, else Python."""
    shim = fs_root / "databricks" / "python3" / "bin" / "python3"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(
        "#!/bin/bash\n"
        "# The sandbox's runtime Python (sandbox/workspace/runtime_python.py).\n"
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
        f'  exec "{sys.executable}" -c "import sys; from sandbox.workspace.runtime_python import main; '
        f'sys.exit(main())" "{cache}" "${{@: -1}}"\n'
        "fi\n"
        f'exec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    return shim


def main() -> int:
    """``<cache> <venv>`` (from the shim): `make_venv`."""
    return make_venv(Path(sys.argv[2]), Path(sys.argv[1]))

"""This agent's build: the package version and a digest of the code it runs.

The package version stays 0.1.0 from commit to commit, so an agent reporting it alone could not
tell `trimtab agent list` whether a cluster still runs the agent an older server uploaded. The
digest covers the agent's modules and the protocol code it speaks (the files a wheel installs,
byte for byte), so the server computes the same value for the agent it would upload and can name
the agents that differ. Computed once at import: a few dozen small files, milliseconds.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

import protos

# The packages whose code an agent runs; the server's and the sandbox's are in the wheel too but
# never run on a cluster, and a server-only change must not mark every agent out of date.
_PACKAGES = (Path(__file__).resolve().parent, Path(protos.__file__).resolve().parent)


def code_digest(packages: tuple[Path, ...] = _PACKAGES) -> str:
    """Hex digest over every ``.py`` file of ``packages`` (relative path and contents, in path
    order), so the same sources give the same digest wherever they are installed."""
    h = hashlib.sha256()
    for root in packages:
        for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
            h.update(f"{root.name}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def _version() -> str:
    try:
        return metadata.version("trimtab")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


# PEP 440's local version label: "0.1.0+1a2b3c4d5e".
BUILD = f"{_version()}+{code_digest()[:10]}"

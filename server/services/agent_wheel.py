"""The agent's wheel that import uploads beside Trimtab's init script (`server.services.agent_install`).

Made once per process, from whatever this server runs from:
- a source tree (a checkout, installed editable or not): built by ``pip wheel`` with the build backend
  of the server's own environment (``setuptools``, in the ``server`` extra), no package index needed;
- an installed wheel (site-packages holds no pyproject.toml to build from): re-packed from the files
  the distribution's RECORD lists, each checked against its recorded hash. Trimtab is pure Python, so
  those files are the wheel it was installed from, less what the installer adds (INSTALLER,
  REQUESTED, direct_url.json, byte-code, the console scripts in bin/).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from server.errors import FailedPrecondition

# The directory that holds agent/, server/, ... : a checkout's root, or site-packages.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
# What pyproject.toml packages: LICENSE (license-files) and init_scripts/ too, as in the release wheel.
_WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "agent", "server", "models", "protos", "sandbox",
                  "init_scripts")
# What an installer writes into .dist-info beside the wheel's own files (PEP 376, PEP 610): never in a wheel.
_INSTALLER_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_wheel_lock = threading.Lock()
_built_wheel: list[Path] = []


def agent_wheel_name() -> str:
    """The file name of this Trimtab's agent wheel (pure-Python: ``py3-none-any``)."""
    return f"trimtab-{importlib.metadata.version('trimtab')}-py3-none-any.whl"


def agent_wheel_file() -> Path:
    """The agent wheel import uploads, made once per process (`_build_wheel` from a source tree, ~5 s;
    `_repack_installed` from an installed wheel, under a second). FailedPrecondition saying why not
    and what to set instead."""
    with _wheel_lock:
        if _built_wheel and _built_wheel[0].is_file():
            return _built_wheel[0]
        work = Path(tempfile.mkdtemp(prefix="trimtab-wheel-"))
        try:
            if (SOURCE_ROOT / "pyproject.toml").is_file():
                wheel = _build_wheel(work)
            else:
                wheel = _repack_installed(work)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        # Only the wheel is kept (copied sources go), and it goes with the process.
        shutil.rmtree(work / "src", ignore_errors=True)
        atexit.register(shutil.rmtree, work, True)
        _built_wheel[:] = [wheel]
        return wheel


def _build_wheel(work: Path, python: str = sys.executable) -> Path:
    """``pip wheel`` of a copy of the source tree in ``work``, run by ``python`` (the server's own
    interpreter); FailedPrecondition saying why not."""
    # Built from a copy: setuptools writes build/ and *.egg-info beside its sources.
    for name in _WHEEL_SOURCES:
        source = SOURCE_ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / "src" / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
        elif source.is_file():
            (work / "src").mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / "src" / name)
    try:
        # No build isolation and no index: a server need not reach a package index to import jobs.
        done = subprocess.run([python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--no-index", "--disable-pip-version-check", "-q", "-w", str(work / "dist"),
                               str(work / "src")], capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FailedPrecondition(f"could not build the agent wheel from {SOURCE_ROOT}: pip wheel took over "
                                 f"{exc.timeout:.0f} s") from exc
    wheels = sorted((work / "dist").glob("trimtab-*.whl"))
    if done.returncode != 0 or not wheels:
        raise FailedPrecondition(f"could not build the agent wheel from {SOURCE_ROOT}: {pip_reason(done.stderr or done.stdout)} "
                                 f"(pip wheel --no-build-isolation builds with this environment's setuptools>=77, "
                                 f"which `pip install 'trimtab[server]'` installs; or set "
                                 f"TRIMTAB_AGENT_WHEEL_LOCATION to where clusters install {agent_wheel_name()} from)")
    return wheels[0]


# A Python exception as a traceback ends ("ModuleNotFoundError: No module named 'setuptools'"), or an
# error pip says itself ("ERROR: ..."), indented when pip relays a build backend's output.
_EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*(?:Error|Exception|Unavailable)|ERROR|error): .+")


def pip_reason(output: str) -> str:
    """The line of ``pip wheel``'s output that says why it failed: the last exception or error line
    other than pip's own wrappers (a backend's traceback ends in its real error, and pip's lines after
    it only say that one happened); its last line when there is none."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    wrappers = ("ERROR: Exception:", "error: subprocess-exited-with-error", "error: metadata-generation-failed")
    found = [line for line in lines if _EXCEPTION_LINE.match(line) and not line.startswith(wrappers)]
    if found:
        return found[-1]
    return lines[-1] if lines else "pip wheel failed and said nothing"


def _record_hash(data: bytes) -> str:
    """RECORD's hash of ``data`` (PEP 376/427: sha256, urlsafe base64 without padding)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _repack_installed(work: Path) -> Path:
    """The wheel Trimtab was installed from, re-packed in ``work`` from the installed files its RECORD
    lists (each checked against its recorded hash) and its .dist-info, with a RECORD of its own."""
    name = agent_wheel_name()
    advice = f"set TRIMTAB_AGENT_WHEEL_LOCATION to where clusters can install {name} from"
    dist = importlib.metadata.distribution("trimtab")
    files = list(dist.files or [])
    here = Path(__file__).resolve()
    # The distribution must be the one this server runs from: an editable install's RECORD lists
    # only its path hook, and another copy of trimtab earlier on sys.path is not this code. Its
    # files must have hashes: those without are the installer's, left out below (a RECORD without
    # any, as some installers write, would make a wheel of nothing).
    if not any(f.hash is not None and f.parts[:1] != ("..",) and Path(str(dist.locate_file(f))).resolve() == here
               for f in files):
        raise FailedPrecondition(f"no agent wheel to upload: this server runs neither from its source tree "
                                 f"({SOURCE_ROOT} has no pyproject.toml) nor from an installed wheel whose RECORD "
                                 f"lists {here.name} with its hash: {advice}")
    info = next((f.parts[0] for f in files if len(f.parts) == 2 and f.parts[0].endswith(".dist-info")
                 and f.name == "WHEEL"), None)
    if info is None or "Tag: py3-none-any" not in (dist.read_text("WHEEL") or ""):
        raise FailedPrecondition(f"no agent wheel to upload: the installed trimtab at {SOURCE_ROOT} is not a "
                                 f"py3-none-any wheel's: {advice}")
    packed: list[tuple[str, Path, str]] = []
    for f in files:
        if f.parts[:1] == ("..",) or f.hash is None:
            continue  # console scripts in bin/ and byte-code: the installer's, made again at install
        if f.parts[0] == info and len(f.parts) == 2 and f.name in _INSTALLER_FILES:
            continue
        recorded = f.hash.value if f.hash.mode == "sha256" else ""
        packed.append((str(f), Path(str(dist.locate_file(f))), recorded))
    # The package's files first, .dist-info last (PEP 427's recommended order), RECORD the very last.
    packed.sort(key=lambda item: (item[0].startswith(f"{info}/"), item[0]))
    wheel = work / name
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for arcname, path, recorded in packed:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise FailedPrecondition(f"no agent wheel to upload: the installed file {path} cannot be read "
                                         f"({exc.strerror or exc}): reinstall trimtab, or {advice}") from exc
            if recorded != _record_hash(data):
                raise FailedPrecondition(f"no agent wheel to upload: the installed file {path} differs from "
                                         f"the wheel trimtab was installed from (its RECORD hash): reinstall "
                                         f"trimtab, or {advice}")
            entry = zipfile.ZipInfo(arcname)  # 1980-01-01: the same files make the same wheel
            entry.external_attr = (path.stat().st_mode & 0o777 | 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(entry, data)
            record.append(f"{arcname},sha256={_record_hash(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        entry = zipfile.ZipInfo(f"{info}/RECORD")
        entry.external_attr = 0o644 << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        out.writestr(entry, "\n".join(record) + "\n")
    return wheel

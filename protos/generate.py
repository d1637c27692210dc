"""Regenerate the committed protobuf and gRPC modules from ``protos/**/*.proto``.

Run ``python -m protos.generate`` from the repository root. The pinned
``grpcio-tools`` (see ``pyproject.toml``, extra ``dev``) decides the generated
code; ``tests/test_protos_drift.py`` fails when the committed files differ from
what this produces, so edit the ``.proto`` files, never the generated ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Write ``_pb2.py``, ``_pb2.pyi`` and ``_pb2_grpc.py`` for every proto into ``out_dir``.

    ``out_dir`` is the root the ``protos/...`` import path is laid under; the
    repository root for the committed code, a temporary directory for the drift test.
    """
    from grpc_tools import protoc  # heavy; only needed here

    include = Path(protoc.__file__).resolve().parent / "_proto"
    sources = [str(p.relative_to(ROOT)) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    return sorted(p for p in out_dir.rglob("*_pb2*") if p.suffix in (".py", ".pyi") and "__pycache__" not in p.parts)


def main() -> int:
    written = generate(ROOT)
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

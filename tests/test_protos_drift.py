"""The committed generated code must be exactly what `python -m protos.generate` makes."""

from __future__ import annotations

from pathlib import Path

from protos.generate import ROOT, generate


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert fresh, "no generated files"
    drifted = []
    for path in fresh:
        rel = path.relative_to(tmp_path)
        committed = ROOT / rel
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            drifted.append(str(rel))
    committed_all = {p.relative_to(ROOT) for p in (ROOT / "protos").rglob("*_pb2*")
                     if p.suffix in (".py", ".pyi") and "__pycache__" not in p.parts}
    stale = committed_all - {p.relative_to(tmp_path) for p in fresh}
    assert not drifted, f"regenerate with `python -m protos.generate`: {drifted}"
    assert not stale, f"generated files without a .proto: {sorted(map(str, stale))}"


def test_services_are_importable() -> None:
    from protos.trimtab.v1 import admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc

    assert hasattr(ingest_pb2_grpc, "IngestServiceStub")
    assert hasattr(admin_pb2_grpc, "RecommendationServiceServicer")
    batch = ingest_pb2.EventBatch(batch_id="b1")
    assert ingest_pb2.EventBatch.FromString(batch.SerializeToString()).batch_id == "b1"

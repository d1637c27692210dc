"""The shipped catalog's version changes whenever its prices do (review of the session's own diff).

Runs a catalog could not price are re-priced once per catalog version (`server.collect.reprice`): a
run left "not priced with catalog V: unknown node type" is not tried again under V. A release that
adds node types (or corrects a price) under the same version leaves those runs unpriced for good,
though the docs promise they are priced "once the server runs on a catalog version that can price
it". So the content of each shipped version is pinned here: changing the data files without a new
version fails, and a new version needs its fingerprint added.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import server.costing.catalog as catalog_module

SHIPPED = Path(catalog_module.__file__).parent / "catalog"

# version -> sha256 of its data files (`_fingerprint`). Older versions stay listed, so a version
# string is never reused for other content.
FINGERPRINTS = {
    "2026.11.24-1": "7493905ebc8b442b969b0662eaec47ff2aac791ceb9621b06db2b151dd020b8c",
    # Fleets, GPU (g4dn, g5), Graviton2 and i3en node types.
    "2026.12.07-1": "34776d46b556e79a2240f4d753be3ac91eb5870395b56b0dbef95867cf820c06",
}


def _fingerprint(directory: Path) -> tuple[str, str]:
    manifest = json.loads((directory / "manifest.json").read_text())
    digest = hashlib.sha256()
    for name in manifest["files"]:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return str(manifest["version"]), digest.hexdigest()


def test_the_shipped_catalog_content_is_the_one_its_version_names() -> None:
    version, fingerprint = _fingerprint(SHIPPED)
    assert version in FINGERPRINTS, (
        f"catalog version {version} is new: add {version!r}: {fingerprint!r} to FINGERPRINTS")
    assert FINGERPRINTS[version] == fingerprint, (
        f"the catalog's data changed under version {version}: runs it left unpriced would never be "
        f"priced again; give manifest.json a new version and add it here with {fingerprint!r}")


def test_a_version_string_is_never_reused_for_other_content() -> None:
    assert len(set(FINGERPRINTS.values())) == len(FINGERPRINTS)

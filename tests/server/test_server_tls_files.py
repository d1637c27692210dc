"""`trimtab server start` with TLS files gRPC cannot use: one line naming the file and what is wrong
with it, exit status 2 as for any bad setting, before the database or the port.

It ended with raw gRPC log lines ("Invalid private key.", "Handshaker factory creation failed") and
"error: cannot listen on 127.0.0.1:0: Failed to bind to address", exit status 1. The real command in a
child process, as an operator runs it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server.conftest import REPO


def _key(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    crypt = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt))
    return key


def _cert(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trimtab-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {n: tmp_path / f"{n}.pem" for n in ("cert", "key", "other_key", "locked_key")}
    _cert(paths["cert"], _key(paths["key"]))
    _key(paths["other_key"])
    _key(paths["locked_key"], b"secret")
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    paths["text"] = tmp_path / "notes.txt"
    return paths


def _start(tmp_path: Path, cert: Path, key: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    return subprocess.run(
        [sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
         "--state-dir", str(tmp_path / "state"), "--tls-cert", str(cert), "--tls-key", str(key)],
        capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO)}, cwd=REPO, timeout=120)


@pytest.mark.parametrize("cert, key, said", [
    ("cert", "other_key", "setting tls_key (--tls-key): '{other_key}' is not the private key of the "
                          "certificate in '{cert}'"),
    ("text", "key", "setting tls_cert (--tls-cert): '{text}' is not a PEM certificate"),
    ("cert", "text", "setting tls_key (--tls-key): '{text}' is not a PEM private key"),
    ("cert", "locked_key", "setting tls_key (--tls-key): '{locked_key}' is encrypted with a passphrase"),
], ids=["mismatched key", "cert not PEM", "key not PEM", "encrypted key"])
def test_server_start_names_the_tls_file_at_fault(tmp_path: Path, files: dict[str, Path], cert: str, key: str,
                                                  said: str) -> None:
    done = _start(tmp_path, files[cert], files[key])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: " + said.format(**{n: str(p) for n, p in files.items()})), \
        done.stderr
    assert "listen" not in done.stderr and "listening" not in done.stdout
    assert not (tmp_path / "state" / "trimtab.db").exists()  # refused before the database was made


def test_a_matching_pair_is_served(tmp_path: Path, files: dict[str, Path]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0", "--state-dir",
         str(tmp_path / "state"), "--tls-cert", str(files["cert"]), "--tls-key", str(files["key"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), (line, proc.stderr.read() if proc.stderr else "")
    finally:
        proc.kill()
        proc.communicate(timeout=30)

"""The server's TLS certificate and key, checked before anything starts.

gRPC reads them only when the port is bound, and a certificate that is not PEM or a key that is not the
certificate's ended the server with raw gRPC log lines and "cannot listen on ...: Failed to bind to
address", naming neither file nor what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{str(path)!r} cannot be read: {exc.strerror or exc}") from None


def tls_problem(cert_path: Path, key_path: Path) -> tuple[str, str] | None:
    """(the setting at fault, "tls_cert" or "tls_key"; why) for files gRPC would refuse; None when the
    key is a PEM private key without a passphrase and the first PEM certificate is its certificate."""
    try:
        cert_pem = _read(cert_path)
    except ValueError as exc:
        return "tls_cert", str(exc)
    try:
        # The first certificate is the server's own; any after it are the chain sent with it.
        cert = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        return "tls_cert", f"{str(cert_path)!r} is not a PEM certificate (no readable BEGIN CERTIFICATE block)"
    try:
        key_pem = _read(key_path)
    except ValueError as exc:
        return "tls_key", str(exc)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        # gRPC has no way to be given a passphrase.
        return "tls_key", f"{str(key_path)!r} is encrypted with a passphrase; give the key unencrypted"
    except (ValueError, UnsupportedAlgorithm):
        return "tls_key", f"{str(key_path)!r} is not a PEM private key (no readable BEGIN ... PRIVATE KEY block)"
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        return "tls_key", f"{str(key_path)!r} is not the private key of the certificate in {str(cert_path)!r}"
    return None

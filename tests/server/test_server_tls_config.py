"""Optional TLS, and the configuration's precedence (flag > environment > file > default)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.trimtab.v1 import ingest_pb2_grpc
from server.config import ServerConfig, load_config
from server.errors import InvalidArgument
from tests.server.conftest import StartHarness, event_batch


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trimtab-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_serves_health_and_ingest(start_harness: StartHarness, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    h = start_harness(tls_cert=cert, tls_key=key)
    creds = grpc.ssl_channel_credentials(cert.read_bytes())
    with grpc.secure_channel(h.running.address, creds) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        ack = ingest_pb2_grpc.IngestServiceStub(channel).SendBatch(event_batch("b", 3), metadata=h.agent)
        assert ack.stored_events == 3
    # A plaintext client cannot talk to a TLS server.
    with pytest.raises(grpc.RpcError) as err:
        health_pb2_grpc.HealthStub(h.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_config_precedence(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text('listen = "0.0.0.0:7000"\nworkers = 3\ngrace_seconds = 2.5\n')
    env = {"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_WORKERS": "5", "TRIMTAB_SECRET_KEY": "3ZGWlTMEVowOyJH2sygM5Vnzvu1PoBsvbL-xx6QpRSE="}
    config = load_config({"listen": "127.0.0.1:0", "http": None}, env=env)
    assert (config.listen, config.workers, config.grace_seconds, config.state_dir) == (
        "127.0.0.1:0", 5, 2.5, tmp_path)
    assert config.database_url == f"sqlite:///{tmp_path / 'trimtab.db'}"
    assert config.describe()["secret_key"] == "****" and config.describe()["listen"] == "127.0.0.1:0"
    assert load_config({}, env={}, file=tmp_path / "absent.toml") == ServerConfig()
    with pytest.raises(InvalidArgument, match="TRIMTAB_WORKERS|workers"):
        load_config({}, env={"TRIMTAB_WORKERS": "many", "TRIMTAB_STATE_DIR": str(tmp_path / "x")})
    (tmp_path / "server.toml").write_text('colour = "blue"\n')
    with pytest.raises(InvalidArgument, match="colour"):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path)})

"""TLS 1.3 for the peer transport: per-node certificates and the `ssl` contexts (docs/p2p.md
§Transport security).

Rules:
- Every node makes a fresh P-256 key and certificate each time it starts; nothing TLS-related
  is stored. TLS gives confidentiality and integrity; *who* the peer is comes from the node
  key's signature in its hello, over both sides' certificate hashes (`messages.TlsBinding`).
- Both sides present a certificate (mutual TLS), so that each can hash the other's. OpenSSL,
  as Python's `ssl` drives it, cannot ask for a client certificate without verifying it, and
  a self-signed one fails verification. So each node's certificate is issued by a *network
  issuer* whose key is public — derived from a constant, `ISSUER_SEED_TAG` — and every node
  trusts that issuer: verification always succeeds for anyone and proves nothing; it only
  makes OpenSSL exchange certificates. No host name is checked.
- TLS 1.3 only. Certificates are valid from 2000 to 9999, so no node's clock matters.
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pacata.chain.hashing import sha256, tagged_hash

ISSUER_SEED_TAG = b"pacata/p2p-tls-issuer/v1"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
_ISSUER_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pacata p2p network issuer")])
_NODE_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pacata node")])


def certificate_hash(certificate_der: bytes) -> bytes:
    """SHA-256 of a DER certificate: what the hello's binding signature names."""
    return sha256(certificate_der)


def _issuer_key() -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(tagged_hash(ISSUER_SEED_TAG, b""), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


@lru_cache(maxsize=1)
def issuer_certificate_pem() -> bytes:
    """The network issuer's certificate (the same key on every node; the bytes may differ)."""
    key = _issuer_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_ISSUER_NAME)
        .issuer_name(_ISSUER_NAME)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class TlsIdentity:
    """A node's TLS key and certificate for one run."""

    certificate_pem: bytes
    certificate_der: bytes
    key_pem: bytes

    @classmethod
    def generate(cls) -> TlsIdentity:
        key = ec.generate_private_key(ec.SECP256R1())
        issuer = _issuer_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_NODE_NAME)
            .issuer_name(_ISSUER_NAME)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOT_BEFORE)
            .not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
                critical=False,
            )
            .sign(issuer, hashes.SHA256())
        )
        return cls(
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    @property
    def certificate_hash(self) -> bytes:
        return certificate_hash(self.certificate_der)

    def _context(self, protocol: int) -> ssl.SSLContext:
        context = ssl.SSLContext(protocol)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=issuer_certificate_pem().decode("ascii"))
        # `load_cert_chain` reads files only: a private directory that lives for the call.
        with tempfile.TemporaryDirectory(prefix="pacata-tls-") as directory:
            certificate_file = Path(directory) / "node.crt"
            key_file = Path(directory) / "node.key"
            certificate_file.write_bytes(self.certificate_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(self.key_pem)
            context.load_cert_chain(certificate_file, key_file)
        return context

    def server_context(self) -> ssl.SSLContext:
        return self._context(ssl.PROTOCOL_TLS_SERVER)

    def client_context(self) -> ssl.SSLContext:
        return self._context(ssl.PROTOCOL_TLS_CLIENT)

"""A throw-away TLS identity for the in-memory and loopback servers.

Generated at run time (never committed).  Ed25519 rather than ECDSA because its signatures have a
fixed length: with ECDSA the CertificateVerify message varies by a byte or two between runs, which
shifts packet sizes and would make "deterministic for a given seed" untrue.
"""

from __future__ import annotations

import datetime
import functools

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID


@functools.cache
def test_identity(common_name: str = "localhost") -> tuple[x509.Certificate, ed25519.Ed25519PrivateKey]:
    """A self-signed certificate and its key, made once per process (so runs share it)."""
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, None)
    )
    return cert, key

"""TLS for the sandbox: a throwaway certificate authority and server certificate, made with ``openssl``.

The sandbox is a test double, so its certificate only has to convince a client that verifies it against
the CA file handed to it (``WOOCOMMERCE_CA_BUNDLE``). A separate CA (rather than one self-signed leaf) is
what a strict verifier expects: the trust anchor is a CA certificate, the server's certificate is not.
The ``openssl`` command line is used so that no cryptography library becomes a dependency of a dev tool;
it is already needed by the deployment checks.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CERTIFICATE_DAYS = 7
_OPENSSL_TIMEOUT_SECONDS = 30


class TlsSetupError(RuntimeError):
    """The certificate could not be made or loaded (no ``openssl``, or unusable files)."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the server's certificate and key, and the CA certificate a client should trust
    (``ca_cert`` is None for a certificate the caller brought: the caller knows what signed it)."""

    cert: Path
    key: Path
    ca_cert: Path | None = None


def make_certificate(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """Write a new CA and a server certificate for ``hosts`` (IP addresses or DNS names) into ``directory``.

    EC P-256 keys, valid for :data:`CERTIFICATE_DAYS` days. Raises :class:`TlsSetupError` when ``openssl``
    is missing or fails.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsSetupError(
            "the openssl command is needed to make the sandbox's certificate (Debian package openssl, "
            "`make deps`); or pass a certificate and key of your own"
        )
    names = ",".join(f"IP:{host}" if _is_ip(host) else f"DNS:{host}" for host in hosts)
    ca_cert, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, request = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    extensions = directory / "cert.ext"
    extensions.write_text(
        f"subjectAltName={names}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    ec_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run(
        openssl, "req", "-x509", *ec_key, "-keyout", ca_key, "-out", ca_cert, "-days", str(CERTIFICATE_DAYS),
        "-subj", "/CN=CrushMe WooCommerce sandbox CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    _run(openssl, "req", "-new", *ec_key, "-keyout", key, "-out", request, "-subj", f"/CN={hosts[0]}")
    _run(
        openssl, "x509", "-req", "-in", request, "-CA", ca_cert, "-CAkey", ca_key, "-set_serial", "2",
        "-days", str(CERTIFICATE_DAYS), "-extfile", extensions, "-out", cert,
    )  # fmt: skip
    ca_key.unlink()  # nothing else is ever signed with it
    return TlsFiles(cert=cert, key=key, ca_cert=ca_cert)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side context for ``files``; raises :class:`TlsSetupError` when they cannot be loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(files.cert), keyfile=str(files.key))
    except (OSError, ssl.SSLError) as error:
        raise TlsSetupError(f"cannot load the TLS certificate {files.cert} / key {files.key}: {error}") from error
    return context


def temporary_directory() -> Path:
    """A private directory for a generated certificate (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix="woocommerce-sandbox-tls-"))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _run(*command: object) -> None:
    try:
        subprocess.run(
            [str(part) for part in command],
            check=True,
            capture_output=True,
            text=True,
            timeout=_OPENSSL_TIMEOUT_SECONDS,
        )
    except subprocess.CalledProcessError as error:
        raise TlsSetupError(f"openssl failed: {error.stderr.strip() or error}") from error
    except (OSError, subprocess.TimeoutExpired) as error:
        raise TlsSetupError(f"openssl failed: {error}") from error

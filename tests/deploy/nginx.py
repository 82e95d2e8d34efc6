"""nginx for the deployment tests: deploy/nginx/accessportal.conf rendered onto free
loopback ports with a self-signed certificate (the `cryptography` library), run in the
foreground as the current user, root or not: its pid file, logs and temporary folders are
in the test's folder. Debian's nginx-light (/usr/sbin/nginx), or ACCESSPORTAL_NGINX."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from tests.conftest import REQUIRE_SERVICES
from tests.deploy.stack import ROOT, Service, free_port

NGINX_CONF = ROOT / "deploy" / "nginx" / "accessportal.conf"
SBIN_PATH = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", os.environ.get("PATH", "")])
NGINX = os.environ.get("ACCESSPORTAL_NGINX") or shutil.which("nginx", path=SBIN_PATH) or ""
# The service's host name in the tests: the certificate's, and sent as SNI (nginx refuses the
# handshake of a client that names no host, as a client connecting to 127.0.0.1 does).
NAME = "localhost"
# A load balancer in front of nginx, for the tests that need one: another loopback address
# (tests connect from it with SourceAddressAdapter); 127.0.0.1 is a client without one.
LOAD_BALANCER = "127.0.0.2"
NGINX_HINT = "needs nginx: apt-get install nginx-light (Debian/Ubuntu), or set ACCESSPORTAL_NGINX"


def nginx_or_skip() -> None:
    """Without nginx the test skips; with ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) it fails."""
    if not (NGINX and os.access(NGINX, os.X_OK)):
        if REQUIRE_SERVICES:
            pytest.fail(f"ACCESSPORTAL_REQUIRE_SERVICES=1: {NGINX_HINT}")
        pytest.skip(NGINX_HINT)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files in `folder`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def render_nginx_site(
    *, http_port: int, https_port: int, upstream: str, cert: Path, key: Path, load_balancer: str
) -> str:
    """deploy/nginx/accessportal.conf with this machine's ports, upstream, certificate and
    host name (`NAME`), and `load_balancer` as the address of a load balancer in front.
    Each substitution must find its line, so an edit of the file that the test no longer
    follows fails here instead of testing something else. IPv6 listeners are dropped (the
    test machine may have no IPv6)."""
    text = NGINX_CONF.read_text()
    substitutions = [
        (r"(?m)^\s*listen \[::\]:\d+.*\n", ""),
        (r"(?m)^(\s*)listen 80\b", rf"\1listen 127.0.0.1:{http_port}"),
        (r"(?m)^(\s*)listen 443 ssl", rf"\1listen 127.0.0.1:{https_port} ssl"),
        (r"(?m)^(\s*server_name )access\.example\.com;", rf"\g<1>{NAME};"),
        (r"(?m)^(\s*server )127\.0\.0\.1:8000;", rf"\g<1>{upstream};"),
        (r"(?m)^(\s*ssl_certificate\s+)\S+;", rf"\g<1>{cert};"),
        (r"(?m)^(\s*ssl_certificate_key\s+)\S+;", rf"\g<1>{key};"),
        (r"(?m)^# (set_real_ip_from )\S+;", rf"\g<1>{load_balancer};"),
        # The redirect names the test's HTTPS port (443 in the real file: no port).
        (r"https://\$server_name\$request_uri", f"https://$server_name:{https_port}$request_uri"),
    ]
    for pattern, replacement in substitutions:
        text, count = re.subn(pattern, replacement, text)
        assert count, f"deploy/nginx/accessportal.conf: no line matches {pattern!r}"
    return text


class Nginx:
    """nginx in the foreground as the current user, everything it writes under `folder`."""

    def __init__(self, folder: Path, *, upstream: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.http_port, self.https_port = free_port(), free_port()
        cert, key = self_signed_certificate(folder)
        self.cert = cert
        site = render_nginx_site(
            http_port=self.http_port,
            https_port=self.https_port,
            upstream=upstream,
            cert=cert,
            key=key,
            load_balancer=LOAD_BALANCER,
        )
        temp = [f"{kind}_temp_path {folder / kind};" for kind in _TEMP_KINDS]
        # As root the workers would switch to `nobody`, who cannot use these folders.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.access_log = folder / "access.log"
        conf = folder / "nginx.conf"
        conf.write_text(
            f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            # nginx's own request ids in its log, to compare with the application's.
            "    log_format with_id '$remote_addr \"$request\" $status $request_id';\n"
            f"    access_log {self.access_log} with_id;\n"
            + "".join(f"    {line}\n" for line in temp)
            + site
            + "\n}\n"
        )
        command = [NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, f"nginx -t refused the site:\n{checked.stderr}"
        self.service = Service(
            "nginx", [*command, "-g", "daemon off;"], cwd=folder, env=dict(os.environ), logs=folder
        )
        self.service.wait_for(self._listening, "nginx to listen")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                return True
        except OSError:
            return False

    @property
    def https(self) -> str:
        return f"https://{NAME}:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://{NAME}:{self.http_port}"

    def stop(self) -> None:
        self.service.stop(timeout=15)


class SourceAddressAdapter(HTTPAdapter):
    """requests' adapter connecting from a given local address (a loopback alias here)."""

    def __init__(self, address: str, **kwargs) -> None:
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


_TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

"""deploy/nginx/crushme.conf: ``nginx -t`` passes, and the site forwards what the throttles rely on.

No nginx runs: ``nginx -t -c`` on a throw-away main config that includes the site. Certificate and log
paths of the committed site are replaced by files in a temporary directory (a self-signed certificate),
everything else is tested as committed.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.servers import REPO

SITE = REPO / "deploy" / "nginx" / "crushme.conf"
CERT = "/etc/letsencrypt/live/crushme.example.com/fullchain.pem"
KEY = "/etc/letsencrypt/live/crushme.example.com/privkey.pem"


def _nginx() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(path).exists(), "nginx is missing: `make deps` installs it"
    return path


@pytest.fixture
def nginx_conf(tmp_path) -> Path:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=crushme.test",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = SITE.read_text().replace(CERT, str(tmp_path / "cert.pem")).replace(KEY, str(tmp_path / "key.pem"))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"""pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
"""
    )
    return main


def _nginx_t(conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_nginx(), "-t", "-c", str(conf), "-e", str(conf.parent / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nginx_t_passes(nginx_conf):
    result = _nginx_t(nginx_conf)

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_nginx_t_catches_a_broken_site(nginx_conf):
    site = nginx_conf.parent / "site.conf"
    site.write_text(
        site.read_text().replace("proxy_pass http://crushme_gunicorn;", "proxy_pass http://crushme_gunicorn")
    )

    assert _nginx_t(nginx_conf).returncode != 0


def test_site_proxies_to_the_gunicorn_socket_with_forwarding_headers():
    text = SITE.read_text()

    assert "server unix:/run/crushme/gunicorn.sock" in text
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "proxy_set_header Host $host;" in text
    assert "alias /opt/crushme/staticfiles/;" in text
    assert "gzip on;" in text and "application/json" in text

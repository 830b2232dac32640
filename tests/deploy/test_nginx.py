"""deploy/nginx/crushme.conf: ``nginx -t`` passes, and the site forwards what the throttles rely on.

No nginx runs: ``nginx -t -c`` on a throw-away main config that includes the site. Certificate and log
paths of the committed site are replaced by files in a temporary directory (a self-signed certificate),
everything else is tested as committed.
"""

import gzip
import http.client
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import pytest

from tests.deploy.servers import REPO, gunicorn_env, running_gunicorn

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


# --- The site for real: nginx in front of this project's gunicorn on a unix socket -------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def site_in_front_of_gunicorn(nginx_conf, tmp_path):
    """The committed site served by a foreground nginx on loopback ports, proxying to gunicorn's socket.

    Only addresses change: listen ports (ephemeral, IPv4 loopback), the socket and static paths (temporary).
    nginx runs without a master process, as the test's user, so it can reach the root-owned 0770 socket.
    """
    http_port, https_port = _free_port(), _free_port()
    gunicorn_socket = tmp_path / "gunicorn.sock"
    static = tmp_path / "static"
    static.mkdir()
    (static / "crushme-probe.txt").write_text("served by nginx\n")
    site = (nginx_conf.parent / "site.conf").read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("unix:/run/crushme/gunicorn.sock", f"unix:{gunicorn_socket}"),
        ("alias /opt/crushme/staticfiles/;", f"alias {static}/;"),
    ):
        assert old in site, old
        site = site.replace(old, new)
    (nginx_conf.parent / "site.conf").write_text(site)
    nginx_conf.write_text("daemon off;\nmaster_process off;\n" + nginx_conf.read_text())

    env = gunicorn_env(DATABASE_URL="sqlite:///unused-nginx.sqlite3", GUNICORN_BIND=f"unix:{gunicorn_socket}")
    with running_gunicorn(env=env) as server:
        nginx = subprocess.Popen(
            [_nginx(), "-c", str(nginx_conf), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_port(https_port)
            yield {"http": http_port, "https": https_port, "socket": gunicorn_socket, "server": server}
        finally:
            nginx.terminate()
            nginx.wait(timeout=15)


def _https(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=15)
    conn.request("GET", path, headers={"Host": "crushme.example.com", **(headers or {})})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_http_redirects_to_https(site_in_front_of_gunicorn):
    conn = http.client.HTTPConnection("127.0.0.1", site_in_front_of_gunicorn["http"], timeout=15)
    conn.request("GET", "/api/products/?page=2", headers={"Host": "crushme.example.com"})
    response = conn.getresponse()

    assert response.status == 301
    assert response.getheader("Location") == "https://crushme.example.com/api/products/?page=2"


def test_the_app_sees_the_client_address_nginx_saw_not_a_spoofed_one(site_in_front_of_gunicorn):
    response = _https(site_in_front_of_gunicorn["https"], "/test/client/", {"X-Forwarded-For": "203.0.113.9"})

    assert response.status == 200
    seen = json.loads(response.body)
    assert seen["throttle_ident"] == "127.0.0.1"  # DRF's throttle key, NUM_PROXIES=1
    assert seen["x_forwarded_for"] == "127.0.0.1"
    assert seen["x_forwarded_proto"] == "https"
    assert seen["host"] == "crushme.example.com"


def test_json_is_gzipped(site_in_front_of_gunicorn):
    response = _https(site_in_front_of_gunicorn["https"], "/test/client/?pad=4000", {"Accept-Encoding": "gzip"})

    assert response.status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert len(response.body) < 1000
    assert len(json.loads(gzip.decompress(response.body))["padding"]) == 4000


def test_static_files_come_from_disk_and_the_socket_is_group_only(site_in_front_of_gunicorn):
    response = _https(site_in_front_of_gunicorn["https"], "/static/crushme-probe.txt")

    assert response.status == 200
    assert response.body == b"served by nginx\n"
    assert response.getheader("Expires")  # `expires 1d`
    assert stat.S_IMODE(os.stat(site_in_front_of_gunicorn["socket"]).st_mode) == 0o770  # umask 007


# --- Errors nginx answers itself are JSON, and come before gunicorn's HTML ones ------------------------


def _raw_https(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is over TLS (http.client refuses some of what these tests send) and parse the answer."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw, context.wrap_socket(raw) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return int(status_line.split()[1]), headers, body


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_text, _, rest = body.partition(b"\r\n")
        size = int(size_text, 16)
        if size == 0:
            break
        out, body = out + rest[:size], rest[size + 2 :]
    return out


def _get_request(path: str, extra_headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: crushme.example.com\r\n{extra_headers}Connection: close\r\n\r\n".encode()


def _assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int, code: str) -> None:
    assert status == expected, body[:300]
    assert headers["content-type"] == "application/json", headers
    assert json.loads(body) == {"code": code, "message": json.loads(body)["message"], "data": {"status": expected}}


def test_an_overlong_request_line_is_nginxs_json_414(site_in_front_of_gunicorn):
    answer = _raw_https(site_in_front_of_gunicorn["https"], _get_request("/api/products/?search=" + "a" * 6000))

    _assert_json_error(*answer, 414, "rest_uri_too_long")


def test_every_request_line_length_around_the_limits_gets_json_never_gunicorns_html(site_in_front_of_gunicorn):
    # nginx's 4k buffer against gunicorn's 4094-byte limit_request_line: whoever refuses, the answer is JSON.
    seen = set()
    for length in range(4040, 4110):
        path = "/api/products/?search=" + "a" * (length - len("/api/products/?search="))
        status, headers, body = _raw_https(site_in_front_of_gunicorn["https"], _get_request(path))
        assert headers["content-type"] == "application/json", (length, status, body[:200])
        assert status in (400, 414), (length, status)  # 400: search is at most 200 characters
        seen.add(status)
    assert seen == {400, 414}


def test_an_oversized_header_is_nginxs_json_431(site_in_front_of_gunicorn):
    answer = _raw_https(site_in_front_of_gunicorn["https"], _get_request("/api/products/", f"X-Big: {'b' * 6000}\r\n"))

    _assert_json_error(*answer, 431, "rest_header_too_large")


def test_too_many_header_fields_gunicorns_431_becomes_json(site_in_front_of_gunicorn):
    # Small fields fit nginx's buffers; gunicorn counts them (limit_request_fields 100) and answers HTML 431.
    many = "".join(f"X-H{i}: v\r\n" for i in range(120))

    answer = _raw_https(site_in_front_of_gunicorn["https"], _get_request("/api/products/", many))

    _assert_json_error(*answer, 431, "rest_header_too_large")


def test_a_body_over_the_limit_is_nginxs_json_413(site_in_front_of_gunicorn):
    request = (
        b"POST /api/products/ HTTP/1.1\r\nHost: crushme.example.com\r\nContent-Type: application/json\r\n"
        b"Content-Length: 3000000\r\nConnection: close\r\n\r\n"
    )

    _assert_json_error(*_raw_https(site_in_front_of_gunicorn["https"], request), 413, "rest_request_too_large")


def test_the_apps_own_errors_pass_through_untouched(site_in_front_of_gunicorn):
    status, _, body = _raw_https(site_in_front_of_gunicorn["https"], _get_request("/api/products/?page=0"))

    assert status == 400
    assert json.loads(body)["code"] == "rest_invalid_param"  # the app's body, not nginx's


def test_gunicorn_down_is_nginxs_json_502(site_in_front_of_gunicorn):
    server = site_in_front_of_gunicorn["server"]
    server.process.terminate()
    server.process.wait(timeout=20)

    status, headers, body = _raw_https(site_in_front_of_gunicorn["https"], _get_request("/api/products/"))

    _assert_json_error(status, headers, body, 502, "rest_bad_gateway")
    assert headers["retry-after"] == "5"


@pytest.mark.parametrize(
    ("path", "host", "status", "code"),
    [
        ("/api/nonexistent/", "crushme.example.com", 404, "rest_no_route"),
        ("/api/products/?sku=%00", "crushme.example.com", 400, "rest_invalid_param"),
        ("/api/products/?search=a%00b", "crushme.example.com", 400, "rest_invalid_param"),
        (f"/api/products/{2**70}/", "crushme.example.com", 400, "rest_invalid_param"),
        ("/api/products/", "evil.example.com", 400, "rest_bad_request"),
    ],
)
def test_bad_requests_through_nginx_get_the_apps_json(site_in_front_of_gunicorn, path, host, status, code):
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()

    answer_status, headers, body = _raw_https(site_in_front_of_gunicorn["https"], request)

    assert answer_status == status, body[:300]
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["code"] == code
    assert json.loads(body)["data"]["status"] == status


# --- The webhook location ------------------------------------------------------------------------------


def test_webhook_location_limits_the_body_and_is_never_cached():
    text = SITE.read_text()
    location = text[text.index("location = /api/webhooks/woocommerce/ {") :]
    location = location[: location.index("}")]

    assert "client_max_body_size 2m;" in location  # = WEBHOOK_MAX_BODY_BYTES
    assert "proxy_cache off;" in location
    assert 'add_header Cache-Control "no-store" always;' in location
    assert "proxy_pass http://crushme_gunicorn;" in location


def _https_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=15)
    conn.request("POST", path, body=body, headers={"Host": "crushme.example.com", **headers})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_webhooks_through_nginx_the_ping_passes_and_a_3_mb_body_stops_at_nginx(site_in_front_of_gunicorn):
    port = site_in_front_of_gunicorn["https"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    ping = _https_post(port, "/api/webhooks/woocommerce/", b"webhook_id=15", form)
    too_big = _https_post(
        port, "/api/webhooks/woocommerce/", b"x" * (3 * 1024 * 1024), {"Content-Type": "application/json"}
    )

    assert ping.status == 200 and ping.body == b""
    assert ping.headers.get_all("Cache-Control") == ["no-store"]
    assert too_big.status == 413
    # refused by nginx (its JSON error page, not the receiver's "body over N bytes"): gunicorn never read it
    assert json.loads(too_big.body)["code"] == "rest_request_too_large"

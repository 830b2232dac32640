"""Real processes for the deploy tests: this project's gunicorn on an ephemeral port, a cuttable TCP proxy.

Nothing here stops or reconfigures the shared PostgreSQL/Redis: an outage is a proxy that drops its
listener and every connection, then listens again on the same port.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
_LISTENING_UNIX = re.compile(r"Listening at: unix:(\S+)")
_BOOTED = re.compile(r"Booting worker with pid: (\d+)")


def postgres_url(*, name: str, port: int = 5432, host: str = "127.0.0.1") -> str:
    """A DATABASE_URL for ``name`` with the credentials of the suite's DATABASE_URL."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crushme")
    credentials = base.split("://", 1)[1].split("@", 1)[0] if "@" in base else "postgres"
    return f"postgres://{credentials}@{host}:{port}/{name}"


def http_get(url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url``; (status, body) for any HTTP answer, including 4xx/5xx."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_get_json(url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    status, body = http_get(url, timeout=timeout, headers=headers)
    return status, json.loads(body)


def production_env(**overrides: str) -> dict[str, str]:
    """What /etc/crushme/crushme.env provides, with dummy secrets (nothing is contacted by --check-config)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "crushme_project.settings.production",
        "DJANGO_SECRET_KEY": "check-config-" + "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "crushme.example.com",
        "DATABASE_URL": "postgres://crushme@127.0.0.1:5432/crushme",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "WOOCOMMERCE_URL": "https://shop.example.com",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_dummy",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_dummy",
        "GUNICORN_BIND": "unix:/run/crushme/gunicorn.sock",
    }
    env.update(overrides)
    return env


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (gunicorn's production bind)."""

    def __init__(self, path: str, *, timeout: float = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def unix_http_get(path: str, url_path: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(path, timeout=timeout)
    try:
        conn.request("GET", url_path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class GunicornServer:
    process: subprocess.Popen
    port: int
    log_lines: list[str] = field(default_factory=list)
    unix_socket: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def booted_worker_pids(self) -> list[int]:
        return [int(m.group(1)) for line in list(self.log_lines) if (m := _BOOTED.search(line))]

    def log_text(self) -> str:
        return "\n".join(self.log_lines)


def _drain(stream, sink: list[str] | None) -> None:
    for raw in iter(stream.readline, b""):
        if sink is not None:
            sink.append(raw.decode("utf-8", "replace").rstrip())


def gunicorn_env(**overrides: str) -> dict[str, str]:
    """The environment of a test gunicorn: the suite's services, the test URLconf, one worker, port 0."""
    env = dict(os.environ)
    env.pop("DB_POOL_ENABLED", None)  # gunicorn_config.py decides, unless a test says otherwise
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.deploy.settings_gunicorn",
            "PYTHONPATH": str(REPO),
            "GUNICORN_BIND": "127.0.0.1:0",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_MAX_REQUESTS": "0",
            "GUNICORN_ACCESS_LOG": "-",
            # Its own keys, throttle counters included: a worker's servers sharing them passed the anonymous
            # rate (100/hour) once enough tests had run in one process, and answered 429.
            "CACHE_KEY_PREFIX": f"crushme-deploytest-{uuid.uuid4().hex[:12]}",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(overrides)
    return env


@contextmanager
def running_gunicorn(*, env: dict[str, str], workers: int = 1, boot_timeout: float = 30.0) -> Iterator[GunicornServer]:
    """Start ``gunicorn -c gunicorn_config.py crushme_project.wsgi`` and wait until it serves; stop it after."""
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", "gunicorn_config.py", "crushme_project.wsgi:application"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server = GunicornServer(process=process, port=0)
    threading.Thread(target=_drain, args=(process.stderr, server.log_lines), daemon=True).start()
    threading.Thread(target=_drain, args=(process.stdout, None), daemon=True).start()  # access log
    try:
        deadline = time.monotonic() + boot_timeout
        while time.monotonic() < deadline and process.poll() is None:
            lines = list(server.log_lines)
            ports = [int(m.group(1)) for line in lines if (m := _LISTENING.search(line))]
            sockets = [m.group(1) for line in lines if (m := _LISTENING_UNIX.search(line))]
            if (ports or sockets) and len(server.booted_worker_pids()) >= workers:
                server.port = ports[0] if ports else 0
                server.unix_socket = sockets[0] if sockets else ""
                break
            time.sleep(0.05)
        if not (server.port or server.unix_socket):
            raise RuntimeError(f"gunicorn did not start (exit {process.poll()}):\n{server.log_text()}")

        def probe() -> int:
            if server.unix_socket:
                return unix_http_get(server.unix_socket, "/test/pid/", timeout=2)[0]
            return http_get(f"{server.url}/test/pid/", timeout=2)[0]

        # A booted worker still imports Django; wait until it answers.
        while time.monotonic() < deadline:
            with suppress(OSError):
                if probe() == 200:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"gunicorn never answered:\n{server.log_text()}")
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


class TcpProxy:
    """Forward 127.0.0.1:<port> to a target; ``cut()`` closes the listener and every connection."""

    def __init__(self, *, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop = threading.Event()
        threading.Thread(target=self._accept_loop, args=(listener, self._stop), daemon=True).start()

    def _accept_loop(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, destination: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, destination):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        with self._lock:
            self._sockets.discard(sock)

    def cut(self) -> None:
        """PostgreSQL "stops": new connections are refused and open ones are dropped."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._close(sock)

    def restore(self) -> None:
        """PostgreSQL "is back" on the same port."""
        self.start()

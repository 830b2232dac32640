"""The address the throttles and the admin lockout key on can only come from nginx (issue 8, "behind proxies").

``NUM_PROXIES=1`` trusts the last ``X-Forwarded-For`` entry. That is safe only if nothing but nginx can
reach gunicorn (a unix socket) and nginx sets the header to the address it saw instead of appending to
the client's. These checks keep the three files of the deployment agreeing on that.
"""

import re

from tests.deploy.servers import REPO

DEPLOY = REPO / "deploy"


def _env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if match := re.match(r"^([A-Z][A-Z0-9_]+)=(.*)$", line):
            values[match.group(1)] = match.group(2)
    return values


def test_gunicorn_listens_on_the_unix_socket_nginx_proxies_to_inside_the_units_runtime_directory():
    bind = _env_example()["GUNICORN_BIND"]
    nginx = (DEPLOY / "nginx" / "crushme.conf").read_text()
    unit = (DEPLOY / "systemd" / "crushme.service").read_text()

    assert bind.startswith("unix:"), "a TCP gunicorn lets clients choose their X-Forwarded-For"
    socket_path = bind.removeprefix("unix:")
    assert re.search(rf"^\s*server unix:{re.escape(socket_path)}\b", nginx, re.MULTILINE)
    runtime_directory = re.search(r"^RuntimeDirectory=(\S+)$", unit, re.MULTILINE).group(1)
    assert socket_path.startswith(f"/run/{runtime_directory}/")
    assert "RuntimeDirectoryMode=0750" in unit  # only the service group (nginx) may enter


def test_nginx_sets_x_forwarded_for_and_the_app_trusts_exactly_one_proxy():
    nginx = (DEPLOY / "nginx" / "crushme.conf").read_text()
    headers = re.findall(r"proxy_set_header\s+X-Forwarded-For\s+(\S+);", nginx)

    # Every location that proxies sets it (the API and the webhook receiver), never $proxy_add_x_forwarded_for
    # (which appends what the client sent).
    assert headers and set(headers) == {"$remote_addr"}
    assert nginx.count("proxy_pass ") == len(headers)
    assert _env_example()["NUM_PROXIES"] == "1"

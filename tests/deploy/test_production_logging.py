"""Production logging: JSON lines on stdout, WARNING unless LOG_LEVEL says otherwise."""

import json
import subprocess
import sys

from tests.deploy.servers import REPO, production_env

SNIPPET = """
import logging, django
django.setup()
logging.getLogger("catalog.anything").info("routine detail")
logging.getLogger("catalog.anything").warning("store slow", extra={"seconds": 12.5})
logging.getLogger("common.middleware.memory").info("memory sample", extra={"rss_mb": 80.1})
"""


def _log_lines(**env: str) -> tuple[list[dict], str]:
    result = subprocess.run(
        [sys.executable, "-c", SNIPPET],
        cwd=REPO,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()], result.stderr


def test_production_logs_json_lines_on_stdout_at_warning():
    lines, stderr = _log_lines()

    assert stderr == ""
    messages = [line["message"] for line in lines]
    assert messages == ["store slow", "memory sample"]  # INFO hidden, except the sampled memory lines
    warning = lines[0]
    assert warning["level"] == "WARNING"
    assert warning["logger"] == "catalog.anything"
    assert warning["seconds"] == 12.5
    assert warning["time"].endswith("+0000")
    assert lines[1]["rss_mb"] == 80.1


def test_log_level_comes_from_the_environment():
    lines, _ = _log_lines(LOG_LEVEL="INFO")

    assert [line["message"] for line in lines] == ["routine detail", "store slow", "memory sample"]

"""``manage.py check --deploy`` with the production settings reports nothing but the justified HSTS-preload
warning (docs/operations.md, section 1.6)."""

import subprocess
import sys

from tests.deploy.servers import REPO, production_env

JUSTIFIED = {"security.W021"}  # HSTS preload: a one-way commitment for the whole domain, left to the operator


def test_check_deploy_reports_only_justified_items():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    reported = {line.split("(", 1)[1].split(")", 1)[0] for line in output.splitlines() if line.startswith("?: (")}
    assert reported == JUSTIFIED, output

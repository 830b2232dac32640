"""deploy/cron/crushme.crontab: the timers' schedule for hosts without systemd, guarded and logged."""

import re
import shlex
import subprocess
import sys
import time

import pytest

from tests.deploy.servers import REPO, production_env

CRONTAB = REPO / "deploy" / "cron" / "crushme.crontab"
EXPECTED = {
    # mode: (minute, hour, day of month, month, day of week)
    "stock": ("0", "3", "*", "*", "*"),
    "products": ("0", "2", "*", "*", "0"),
    "categories": ("0", "1", "1", "*", "*"),
}
_FIELD = re.compile(r"^(\*|\d+(-\d+)?(,\d+(-\d+)?)*)(/\d+)?$")
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def parse_crontab(text: str) -> tuple[dict[str, str], list[dict]]:
    """An /etc/cron.d file: (variables, entries with schedule, user and command). Raises ValueError."""
    variables: dict[str, str] = {}
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            name, value = line.split("=", 1)
            variables[name] = value
            continue
        parts = line.split(None, 6)
        if len(parts) < 7:
            raise ValueError(f"line {number}: expected 5 schedule fields, a user and a command: {raw!r}")
        schedule, user, command = tuple(parts[:5]), parts[5], parts[6]
        for value, (low, high) in zip(schedule, _RANGES, strict=True):
            if not _FIELD.match(value):
                raise ValueError(f"line {number}: bad schedule field {value!r}")
            for number_text in re.findall(r"\d+", value.split("/")[0]):
                if not low <= int(number_text) <= high:
                    raise ValueError(f"line {number}: {number_text} outside {low}-{high}")
        if "%" in command:
            raise ValueError(f"line {number}: cron turns % into a newline")
        entries.append({"schedule": schedule, "user": user, "command": command})
    return variables, entries


def _entry_for(entries: list[dict], mode: str) -> dict:
    matching = [e for e in entries if f"sync_woocommerce --{mode} " in e["command"] + " "]
    assert len(matching) == 1, f"expected one --{mode} line, found {len(matching)}"
    return matching[0]


def test_crontab_parses_and_has_exactly_the_three_scheduled_modes():
    variables, entries = parse_crontab(CRONTAB.read_text())

    assert len(entries) == 3
    assert variables["DJANGO_SETTINGS_MODULE"] == "crushme_project.settings.production"
    assert variables["DB_POOL_ENABLED"] == "false"
    assert not any("--full" in e["command"] for e in entries)


def test_schedule_matches_the_timers():
    _, entries = parse_crontab(CRONTAB.read_text())

    for mode, schedule in EXPECTED.items():
        assert _entry_for(entries, mode)["schedule"] == schedule


def test_every_line_is_guarded_against_overlap_low_priority_and_logged():
    _, entries = parse_crontab(CRONTAB.read_text())

    for mode in EXPECTED:
        entry = _entry_for(entries, mode)
        words = shlex.split(entry["command"])
        assert entry["user"] == "crushme"
        # one lock for all modes; a busy lock exits 75 like the command's own "another sync is running"
        flock = words.index("flock")
        assert words[flock + 1 : flock + 5] == ["-n", "-E", "75", "/run/lock/crushme-sync.lock"]
        assert words.index("nice") > flock and words.index("ionice") > flock
        assert words[-3:] == [">>", f"/var/log/crushme/sync-{mode}.log", "2>&1"]


def test_the_parser_rejects_broken_lines():
    for broken in (
        "0 3 * * crushme true",  # a field missing
        "0 25 * * * crushme true",  # hour out of range
        "0 3 * * * crushme date +%F",  # unescaped %
        "0 3 * x * crushme true",
    ):
        try:
            parse_crontab(broken)
        except ValueError:
            continue
        raise AssertionError(f"accepted {broken!r}")


# --- The lines run for real ------------------------------------------------------------------------
# Each command is executed by /bin/sh as cron would, with the crontab's variables, the install path
# replaced by this checkout and the lock and log paths by temporary files. The production settings
# point at a migrated SQLite file and an unreachable store, so the sync itself fails fast (exit 1).


@pytest.fixture
def cron_environment(tmp_path):
    variables, entries = parse_crontab(CRONTAB.read_text())
    database = tmp_path / "cron.sqlite3"
    env = production_env(
        DATABASE_URL=f"sqlite:///{database}",
        WOOCOMMERCE_URL="http://127.0.0.1:1",
        WOOCOMMERCE_MAX_RETRIES="0",
        WOOCOMMERCE_CONNECT_TIMEOUT="1",
        DJANGO_READ_DOT_ENV_FILE="false",  # the variables come from this environment, not /opt/crushme/.env
    )
    env.update({k: v for k, v in variables.items() if k not in {"DJANGO_READ_DOT_ENV_FILE", "PATH"}})
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, check=True, timeout=300,
                   capture_output=True)  # fmt: skip

    def command_for(mode: str) -> str:
        command = _entry_for(entries, mode)["command"]
        command = command.replace("/opt/crushme", str(REPO)).replace("/run/lock/", f"{tmp_path}/")
        return command.replace("/var/log/crushme/", f"{tmp_path}/")

    return env, command_for, tmp_path


def test_a_cron_line_runs_the_sync_at_low_priority_and_logs_its_output(cron_environment):
    env, command_for, tmp_path = cron_environment

    result = subprocess.run(["/bin/sh", "-c", command_for("stock")], env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip

    log = (tmp_path / "sync-stock.log").read_text()
    assert result.returncode == 1, log  # the store is unreachable: "failed", not skipped
    assert result.stdout == "" and result.stderr == ""  # everything went to the log file
    assert "sync_woocommerce --stock: failed" in log  # the command's summary line
    assert '"level": "ERROR", "logger": "sync.services.runs"' in log  # production JSON logging


def test_a_cron_line_is_skipped_with_75_while_another_sync_holds_the_lock(cron_environment):
    env, command_for, tmp_path = cron_environment
    lock = tmp_path / "crushme-sync.lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the holder has the lock
            if subprocess.run(["flock", "-n", str(lock), "true"]).returncode != 0:
                break
            time.sleep(0.05)

        started = time.monotonic()
        result = subprocess.run(["/bin/sh", "-c", command_for("products")], env=env, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        holder.terminate()
        holder.wait(timeout=10)

    assert result.returncode == 75
    assert elapsed < 5  # did not wait for the lock
    assert (tmp_path / "sync-products.log").read_text() == ""  # the sync never started

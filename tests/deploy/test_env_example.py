"""deploy/.env.example documents every environment variable the project's code reads."""

import ast
import re
from pathlib import Path

from tests.deploy.servers import REPO

EXAMPLE = REPO / "deploy" / ".env.example"
SOURCES = ["crushme_project", "catalog", "sync", "common", "gunicorn_config.py", "manage.py"]
# Calls whose first string argument is an environment variable name.
_ENV_FUNCTIONS = {"getenv", "_env_int", "_env_bool"}
_ENV_OBJECTS = {"env", "environ"}
_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")


def _python_files() -> list[Path]:
    files = []
    for entry in SOURCES:
        path = REPO / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [f for f in files if "migrations" not in f.parts]


def _receiver_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def variables_read(source: str) -> set[str]:
    """Names passed to env(...), env.int(...), os.environ.get(...), os.environ[...], os.getenv(...), ..."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            is_env_call = (isinstance(func, ast.Name) and func.id in _ENV_FUNCTIONS | _ENV_OBJECTS) or (
                isinstance(func, ast.Attribute)
                and (func.attr in _ENV_FUNCTIONS or _receiver_name(func.value) in _ENV_OBJECTS)
            )
            if is_env_call:
                literal = next(
                    (a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)), None
                )
                if literal and _NAME.match(literal):
                    names.add(literal)
        elif (
            isinstance(node, ast.Subscript)
            and _receiver_name(node.value) == "environ"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            names.add(node.slice.value)
    return names


def documented() -> set[str]:
    names = set()
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_the_scanner_finds_every_form_of_read():
    source = """
import os
a = env("ONE_VAR", default="x")
b = env.int("TWO_VAR", default=1)
c = os.environ.get("THREE_VAR")
d = os.environ["FOUR_VAR"]
e = os.getenv("FIVE_VAR")
f = _env_int(environ, "SIX_VAR", 3)
g = environ.get("SEVEN_VAR", "")
h = print("NOT_A_VAR")
"""
    assert variables_read(source) == {f"{n}_VAR" for n in ("ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN")}


def test_every_variable_read_by_the_code_is_in_env_example():
    read: dict[str, list[str]] = {}
    for path in _python_files():
        for name in variables_read(path.read_text()):
            read.setdefault(name, []).append(str(path.relative_to(REPO)))

    missing = {name: files for name, files in sorted(read.items()) if name not in documented()}

    assert len(read) > 40  # the scanner found the settings at all
    assert missing == {}, f"add these to deploy/.env.example: {missing}"

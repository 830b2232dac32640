"""Dependencies point one way: ``sync`` -> ``catalog`` -> ``common``; presentation stays in presentation;
the sandbox (``sync/sandbox/``) is dev- and test-only.

Read from the source with ``ast`` (every import statement, including the ones inside functions),
not from ``sys.modules``: a forbidden import hidden in a function body counts too. One check also asks a
fresh interpreter which sandbox modules the deployed service has loaded, for what is loaded by name.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("catalog", "common", "sync")
FORBIDDEN = {
    "catalog": {"sync", "crushme_project"},
    "common": {"catalog", "sync", "crushme_project"},
}
# A service returns data; rendering it is the views' and catalog.presentation's job.
PRESENTATION = ("rest_framework.serializers", "rest_framework.renderers", "catalog.serializers", "catalog.presentation")


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``; ``from a import b`` yields ``a.b`` and ``a``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def top(module: str) -> str:
    return module.split(".", 1)[0]


def test_the_walker_sees_every_kind_of_import(tmp_path):
    # Guard the guard: a walker that missed function-level or relative imports would pass everything.
    package = tmp_path / "catalog"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = package / "probe.py"
    source.write_text(
        "import sync.services.live\n"
        "def f():\n"
        "    from sync import apps\n"
        "from .models import Product\n"
        "from . import selectors\n"
    )
    modules = {m for _, m in imported_modules(source, root=tmp_path)}
    assert {"sync.services.live", "sync", "sync.apps", "catalog.models", "catalog.models.Product"} <= modules
    assert "catalog.selectors" in modules


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_is_below_it(package):
    files = python_files(package)
    assert len(files) > 3  # the walk found the package
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(path)
        if top(module) in FORBIDDEN[package]
    ]
    assert offences == []


def test_there_is_no_import_cycle_between_the_packages():
    edges: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for package in PACKAGES:
        for path in python_files(package):
            edges[package] |= {top(m) for _, m in imported_modules(path) if top(m) in PACKAGES and top(m) != package}
    assert edges["sync"] == {"catalog", "common"}  # the walk sees real arrows

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges[start])

    cycles = sorted(package for package in PACKAGES if reaches(package, package))
    assert cycles == []


def is_presentation(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PRESENTATION) or module.rsplit(".", 1)[-1] in {
        "serializers",
        "renderers",
    }


def project_file(module: str) -> Path | None:
    for candidate in (ROOT / f"{module.replace('.', '/')}.py", ROOT / module.replace(".", "/") / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


SERVICES = [ROOT / "catalog" / "services.py", *sorted((ROOT / "sync" / "services").glob("*.py"))]


def presentation_imports(path: Path) -> list[str]:
    """Every import of presentation reached from ``path``, following the project's own modules."""
    offences: list[str] = []
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for line, module in imported_modules(current):
            if is_presentation(module):
                offences.append(f"{current.relative_to(ROOT)}:{line} imports {module}")
            elif top(module) in PACKAGES and (found := project_file(module)) is not None:
                todo.append(found)
    return offences


def test_the_presentation_walk_finds_a_serializer_behind_another_module():
    # Positive control: the warmup command renders nothing itself, the warmup module it calls does.
    offences = presentation_imports(ROOT / "catalog" / "management" / "commands" / "warmup_cache.py")
    assert any(re.fullmatch(r"catalog/warmup\.py:\d+ imports catalog\.serializers", offence) for offence in offences)


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_import_no_serializer_and_no_renderer_even_through_another_module(path):
    # A service importing a helper that renders depends on presentation just the same.
    assert presentation_imports(path) == []


# --- the sandbox is dev- and test-only ------------------------------------------------------------------

SANDBOX = ROOT / "sync" / "sandbox"
SANDBOX_MAX_LINES = 500
# Who may import the sandbox: the tests, the benchmarks, the sandbox itself and the command that runs it.
SANDBOX_USERS = ("tests/", "bench/", "sync/sandbox/", "sync/management/commands/woocommerce_sandbox.py")
# Calls that load a module named by a string, and settings that list modules as strings.
LOADERS = {"import_module", "__import__", "import_string", "include", "find_spec"}
MODULE_LISTS = {"INSTALLED_APPS", "MIDDLEWARE", "ROOT_URLCONF", "WSGI_APPLICATION"}


def is_sandbox(module: str) -> bool:
    return module == "sync.sandbox" or module.startswith("sync.sandbox.")


def project_python_files(root: Path = ROOT) -> list[Path]:
    """Every .py file of the project, migrations, settings and ``gunicorn_config.py`` included."""
    return sorted(
        p
        for p in root.rglob("*.py")
        if not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)
    )


def sandbox_references(path: Path, root: Path = ROOT) -> list[str]:
    """Imports of the sandbox in ``path`` (any depth, relative ones resolved) and its dotted name in a
    string that loads a module (``import_module("sync.sandbox...")``, ``INSTALLED_APPS``, ``include()``)."""
    found = [f"{line} imports {module}" for line, module in imported_modules(path, root) if is_sandbox(module)]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        strings: list[ast.expr] = []
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in LOADERS:
                strings = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") in MODULE_LISTS for t in node.targets):
            strings = [node.value, *getattr(node.value, "elts", [])]
        found += [
            f"{s.lineno} loads {s.value}"
            for s in strings
            if isinstance(s, ast.Constant) and isinstance(s.value, str) and is_sandbox(s.value)
        ]
    return sorted(found, key=lambda text: int(text.split()[0]))


def test_every_sandbox_module_is_under_500_lines():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in SANDBOX.rglob("*.py")}
    assert len(sizes) > 10  # the walk found the sandbox
    assert {path: lines for path, lines in sizes.items() if lines >= SANDBOX_MAX_LINES} == {}


def test_the_sandbox_walk_sees_imports_in_functions_and_modules_named_in_strings(tmp_path):
    # Guard the guard: each of these loads the sandbox and must be reported.
    package = tmp_path / "sync"
    (package / "services").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "services" / "__init__.py").write_text("")
    probe = package / "services" / "probe.py"
    probe.write_text(
        "import importlib\n"
        "from .. import sandbox\n"
        "def f():\n"
        "    from sync.sandbox.server import SandboxServer\n"
        "    importlib.import_module('sync.sandbox.catalog')\n"
        "INSTALLED_APPS = ['catalog', 'sync.sandbox']\n"
    )
    assert project_python_files(tmp_path) == sorted(package.rglob("*.py"))
    assert sandbox_references(probe, tmp_path) == [
        "2 imports sync.sandbox",
        "4 imports sync.sandbox.server",
        "4 imports sync.sandbox.server.SandboxServer",
        "5 loads sync.sandbox.catalog",
        "6 loads sync.sandbox",
    ]
    # And in the project: the command that runs the sandbox is seen importing it.
    command = ROOT / "sync" / "management" / "commands" / "woocommerce_sandbox.py"
    assert any("imports sync.sandbox.server" in found for found in sandbox_references(command))


def test_only_tests_benchmarks_and_the_sandbox_command_import_the_sandbox():
    files = [p for p in project_python_files() if not p.relative_to(ROOT).as_posix().startswith(SANDBOX_USERS)]
    assert {"gunicorn_config.py", "manage.py", "crushme_project/settings/base.py", "sync/apps.py"} <= {
        p.relative_to(ROOT).as_posix() for p in files
    }  # the walk reaches what the deployed service loads
    offences = [f"{path.relative_to(ROOT)}:{found}" for path in files for found in sandbox_references(path)]
    assert offences == []


_LOADED_BY_THE_SERVICE = """
import json, sys
import gunicorn_config  # noqa: F401
import crushme_project.wsgi  # noqa: F401  (settings, apps and their ready(), admin autodiscovery)
from django.core.management import get_commands, load_command_class
from django.urls import get_resolver

get_resolver().url_patterns  # every view module the URLconf reaches

def sandbox():
    return sorted(m for m in sys.modules if m == "sync.sandbox" or m.startswith("sync.sandbox."))

commands = {name: app for name, app in get_commands().items() if app in ("common", "catalog", "sync")}
for name, app in sorted(commands.items()):
    if name != "woocommerce_sandbox":
        load_command_class(app, name)
loaded = sandbox()
load_command_class("sync", "woocommerce_sandbox")
print(json.dumps({"commands": sorted(commands), "loaded": loaded, "with_the_sandbox_command": sandbox()}))
"""


def test_the_deployed_service_does_not_load_the_sandbox():
    # The ast walk misses what is loaded by a third party or by name at run time: ask the interpreter.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crushme_project.settings.production",
        "DJANGO_SECRET_KEY": "architecture-test",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "DATABASE_URL": "sqlite:///unused.sqlite3",  # nothing connects: only imports run
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "WOOCOMMERCE_URL": "https://store.invalid",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_architecture_test",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_architecture_test",
    }
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_THE_SERVICE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"sync_woocommerce", "warmup_cache", "woocommerce_sandbox"} <= set(seen["commands"])
    assert seen["loaded"] == []
    assert "sync.sandbox.server" in seen["with_the_sandbox_command"]  # the check can see a loaded sandbox


def test_common_holds_no_catalog_cache_code():
    # The catalog's version-keyed cache and its response type live in catalog.cache: common stays cross-cutting.
    import common.cache

    catalog_names = [name for name in vars(common.cache) if name.lower().startswith(("catalog", "cachedresponse"))]
    assert catalog_names == []
    assert not hasattr(common.cache, "etag_for")

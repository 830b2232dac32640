"""Dependencies point one way: ``sync`` -> ``catalog`` -> ``common``; presentation stays in presentation.

Read from the source with ``ast`` (every import statement, including the ones inside functions),
not from ``sys.modules``: a forbidden import hidden in a function body counts too.
"""

from __future__ import annotations

import ast
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
    assert "catalog/warmup.py:19 imports catalog.serializers" in offences


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_import_no_serializer_and_no_renderer_even_through_another_module(path):
    # A service importing a helper that renders depends on presentation just the same.
    assert presentation_imports(path) == []

"""The house rules of ``broadcaster/`` (docs/architecture.md), checked over the source with ``ast``.

- ``core/`` imports nothing of the project but ``core/``;
- ``stores/`` and ``web/`` (shared plumbing) import no capability;
- a capability imports ``core/``, ``stores/``, ``web/``, the shared top-level modules, its own
  modules and, where it must, another capability's public names: ``from broadcaster.reports import X``
  with ``X`` in that package's ``__all__``, never its modules;
- nothing imports ``app.py`` (the one module that knows every capability);
- no import cycle, between modules or between capabilities.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a cycle hidden
that way is still a cycle in the design.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "broadcaster"
SHARED = {"core", "stores", "web"}
TOP = {"config", "i18n", "metrics"}
"""Top-level modules every layer may use; each imports nothing of the project's layers but core."""
COMPOSERS = {"app", "cli"}
"""Top-level modules that put capabilities together."""
MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the module imported: a module, or a package's __init__ (dotted package name)
    names: tuple[str, ...]  # names taken from it (empty for ``import x``)
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str, known: dict[str, Path]) -> bool:
    return known.get(name, Path()).name == "__init__.py"


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[Import]:
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                Import(name, a.name, (), node.lineno)
                for a in node.names
                if a.name.split(".")[0] == "broadcaster"
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "broadcaster":
                continue
            plain = tuple(a.name for a in node.names if f"{source}.{a.name}" not in known)
            found += (
                [Import(name, source, plain, node.lineno)] if plain or not is_package(source, known) else []
            )
            found += [
                Import(name, f"{source}.{a.name}", (), node.lineno)
                for a in node.names
                if f"{source}.{a.name}" in known
            ]
    return found


def all_imports() -> list[Import]:
    known = modules()
    return [found for name, path in known.items() for found in imports_of(name, path, known)]


def layer(module: str) -> str:
    """``core``, ``web``, a capability's folder, or a top-level module's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "broadcaster"


def capabilities() -> set[str]:
    folders = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    return folders - SHARED


def exported(package: str) -> set[str]:
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def test_the_rules_see_the_whole_package() -> None:
    known = modules()
    assert len(known) > 60, sorted(known)
    assert {"core", "stores", "web"} <= {layer(m) for m in known}
    assert len(capabilities()) >= 8, capabilities()
    assert len(all_imports()) > 300  # the walk finds the imports it judges


def test_core_imports_only_core() -> None:
    wrong = [i for i in all_imports() if layer(i.module) == "core" and layer(i.target) != "core"]
    assert wrong == []


def test_shared_layers_and_top_modules_import_no_capability() -> None:
    allowed = {"core": {"core"}, "stores": {"core", "stores", *TOP}, "web": {"core", "stores", "web", *TOP}}
    allowed |= {top: {"core", "broadcaster", *TOP} for top in TOP}
    wrong = [
        i
        for i in all_imports()
        if layer(i.module) in allowed
        and layer(i.target) not in allowed[layer(i.module)]
        # ``from broadcaster import __version__``
        and not (i.target == "broadcaster" and i.names == ("__version__",))
    ]
    assert wrong == []


def test_capabilities_use_each_others_public_names_only() -> None:
    caps = capabilities()
    wrong = []
    for found in all_imports():
        mine, theirs = layer(found.module), layer(found.target)
        if mine not in caps or theirs not in caps or mine == theirs:
            continue
        if found.target.rpartition(".")[0] == f"broadcaster.{theirs}" and found.target.rpartition(".")[
            2
        ] in exported(theirs):
            continue  # a module the package names public (``from broadcaster.accounts import audit``)
        if found.target != f"broadcaster.{theirs}":
            wrong.append(f"{found.module}:{found.line} imports the module {found.target}")
        elif not set(found.names) <= exported(theirs):
            unlisted = sorted(set(found.names) - exported(theirs))
            wrong.append(
                f"{found.module}:{found.line} takes {unlisted}, not in {theirs}/__init__.py's __all__"
            )
    assert wrong == []


def test_capabilities_used_as_namespaces_offer_what_is_used() -> None:
    # ``from broadcaster import media`` then ``media.store_photo(...)``: each name must be public.
    caps, wrong = capabilities(), []
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        local = {
            alias.asname or alias.name: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "broadcaster"
            for alias in node.names
            if alias.name in caps and alias.name != layer(name)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in local
            ):
                package = local[node.value.id]
                if node.attr not in exported(package):
                    wrong.append(f"{name}:{node.lineno} uses {package}.{node.attr}, not in its __all__")
    assert wrong == []


@pytest.mark.parametrize("package", sorted(capabilities()))
def test_each_public_name_exists(package: str) -> None:
    init = PACKAGE / package / "__init__.py"
    tree = ast.parse(init.read_text())
    defined = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert exported(package) <= defined, sorted(exported(package) - defined)


def test_nothing_imports_the_app() -> None:
    assert [i for i in all_imports() if i.target == "broadcaster.app"] == []


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph, or [] (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}}) == []


def test_no_import_cycle_between_modules() -> None:
    edges: dict[str, set[str]] = {}
    for found in all_imports():
        if found.target != found.module:
            edges.setdefault(found.module, set()).add(found.target)
    assert cycle(edges) == []


def test_no_import_cycle_between_capabilities() -> None:
    caps = capabilities()
    edges: dict[str, set[str]] = {}
    for found in all_imports():
        mine, theirs = layer(found.module), layer(found.target)
        if mine in caps and theirs in caps and mine != theirs:
            edges.setdefault(mine, set()).add(theirs)
    assert cycle(edges) == []


def test_modules_stay_small() -> None:
    # Past ~400 lines a module is split along its seams (docs/architecture.md).
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}

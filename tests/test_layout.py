"""The shape of the package (docs/design.md, "Layers"): imports run one way, no cycles, and
modules talk through plain names.

The layer contracts themselves are import-linter's (``lint-imports``, configured in
pyproject.toml, run by ``.ci/run``); here the rules it does not check, read from the
source with ``ast`` so that imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "streamgmm"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str):
    """(imported module, imported names, line) of every import in a module, absolute."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target, [a.name for a in node.names], node.lineno


def _internal_edges():
    """module -> the package modules it imports (a name that is a submodule counts as one)."""
    edges = {name: set() for name in MODULES}
    for name in MODULES:
        for target, names, _ in _imports(name):
            if not target.startswith("streamgmm"):
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for t in subs or [target]:
                if t in MODULES and t != name:
                    edges[name].add(t)
    return edges


def test_there_are_no_import_cycles():
    edges = _internal_edges()
    # a package __init__ that re-exports its modules is not a cycle with them
    for name in edges:
        edges[name] = {t for t in edges[name] if not name.startswith(t + ".")}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_an_underscore_name_from_another_module():
    found = []
    for name in MODULES:
        for target, names, line in _imports(name):
            if target.startswith("streamgmm"):
                private = [n for n in names if n.startswith("_") and n != "__version__"]
                # a private subpackage or module by name is fine: its contents are plain names
                private = [n for n in private if f"{target}.{n}" not in MODULES]
                found += [f"{name}:{line} imports {target}.{n}" for n in private]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", [n for n in MODULES if n != "streamgmm"])
def test_no_module_imports_the_package_itself(name):
    """Importing ``streamgmm`` from inside would pull every layer into the lowest ones."""
    for target, names, line in _imports(name):
        submodules = names and all(f"{target}.{n}" in MODULES for n in names)
        assert target != "streamgmm" or submodules, f"{name}:{line}"


def test_h5py_is_imported_only_in_the_io_layer():
    outside = [
        f"{name}:{line}"
        for name in MODULES
        if not name.startswith("streamgmm._io")
        for target, _, line in _imports(name)
        if target == "h5py" or target.startswith("h5py.")
    ]
    assert not outside, outside


def test_kernels_import_only_numpy_numba_and_the_standard_library():
    allowed = {"numpy", "numba", "math", "collections", "hashlib", "logging", "os", "pathlib"}
    bad = [
        f"{name} imports {target}"
        for name in MODULES
        if name.startswith("streamgmm._kernels")
        for target, _, _ in _imports(name)
        if not target.startswith("streamgmm._kernels")
        and target.split(".")[0] not in allowed | {"__future__"}
    ]
    assert not bad, bad


def test_the_import_linter_contracts_are_declared():
    text = (PACKAGE.parent / "pyproject.toml").read_text()
    assert "[tool.importlinter]" in text and 'type = "layers"' in text

"""The package's shape: no import cycles, and library code never imports the CLI.

The graph is read from the source with `ast` (nothing is imported): an edge A -> B for
every ``import``/``from ... import`` in module A that names module B of mixforge. Imports
inside functions count too, so a lazy import cannot hide a cycle; ``TYPE_CHECKING``
blocks do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "mixforge"


def module_name(path: Path, root: Path = PKG) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes of ``tree``, skipping ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    """{module: the mixforge modules it imports} for every .py file under ``root``."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = mod if is_pkg else mod.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # `from pkg import sub` imports the submodule when there is one
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in files else prefix
                           for a in node.names]
            for t in targets:
                while t and t not in files:  # `import a.b.c` names a.b.c's module
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n):], n]
            if n not in state and (c := visit(n)):
                return c
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_find_cycle_sees_a_cycle_and_its_absence():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_reads_relative_and_lazy_imports(tmp_path):
    pkg = tmp_path / "mixforge"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    g = import_graph(pkg)
    assert g["mixforge.a"] == {"mixforge.sub.b"}
    assert g["mixforge.sub.b"] == {"mixforge.a"}
    assert find_cycle(g) == ["mixforge.a", "mixforge.sub.b", "mixforge.a"]


def test_mixforge_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


ENTRY_POINTS = ("mixforge.cli", "mixforge.__main__")  # `python -m mixforge` runs the CLI


def test_library_code_never_imports_the_cli():
    graph = import_graph()
    bad = {mod: sorted(t for t in deps if t == "mixforge.cli" or t.startswith("mixforge.cli."))
           for mod, deps in graph.items() if not mod.startswith(ENTRY_POINTS)}
    bad = {m: d for m, d in bad.items() if d}
    assert not bad, f"library code must not depend on the command line: {bad}"


FLAGS = {"cache", "nogil", "fastmath", "parallel", "boundscheck", "error_model", "_nrt"}


def test_every_kernel_takes_its_numba_flags_from_one_place():
    """Every ``@njit`` passes ``**JIT`` (or ``**JIT_NOALLOC``) from `mixforge._numba` and
    sets no flag itself."""
    bad, kernels = [], 0
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "_JIT" for t in node.targets):
                if not (isinstance(node.value, ast.Name) and node.value.id == "JIT"):
                    bad.append(f"{path.name}:{node.lineno}: _JIT is not mixforge._numba.JIT")
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "njit"):
                    if getattr(dec, "id", "") == "njit":
                        bad.append(f"{path.name}:{node.lineno}: bare @njit")
                    continue
                kernels += 1
                spread = [k.value.id for k in dec.keywords
                          if k.arg is None and isinstance(k.value, ast.Name)]
                own = [k.arg for k in dec.keywords if k.arg in FLAGS]
                if not set(spread) & {"JIT", "_JIT", "JIT_NOALLOC"} or own:
                    bad.append(f"{path.name}:{node.lineno}: {node.name} sets {own or 'no JIT'}")
    assert kernels > 50 and not bad, bad

"""The package's import graph: no circle, and SQL only in the store."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kd_automl"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Names ``path`` imports (``from a import b`` gives ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # a module's body, including its if/try blocks, not its functions
        nodes = [n for stmt in tree.body for n in ast.walk(stmt)
                 if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names
                      if f"{node.module}.{a.name}" in MODULES}
    return names


def _graph(top_level_only: bool, within: str = "kd_automl") -> dict[str, set[str]]:
    return {m: {i for i in _imports(p, top_level_only)
                if i in MODULES and i.startswith(within) and i != m}
            for m, p in MODULES.items() if m.startswith(within)}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_circle_at_module_level():
    assert _cycle(_graph(top_level_only=True)) is None


def test_the_cli_has_no_circle_even_through_lazy_imports():
    assert _cycle(_graph(top_level_only=False, within="kd_automl.cli")) is None


def test_orchestrate_has_no_circle_even_through_lazy_imports():
    assert _cycle(_graph(top_level_only=False, within="kd_automl.orchestrate")) is None


def test_only_the_store_imports_sqlalchemy():
    users = sorted(m for m, p in MODULES.items() if not m.startswith("kd_automl.store")
                   and any(i.split(".")[0] == "sqlalchemy" for i in _imports(p, False)))
    assert users == []


def test_the_graph_sees_the_known_edges():  # the test is not vacuous
    graph = _graph(top_level_only=True)
    assert "kd_automl.store.store" in graph["kd_automl.store"]
    assert "kd_automl.cli.options" in graph["kd_automl.cli.search"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_a_method_is_one_file_the_registry_finds_itself():
    """Every class decorated ``@register_method`` in ``distill/`` is registered, though the
    package's ``__init__`` names no method module."""
    from kd_automl.distill import method_names

    init = (PACKAGE / "distill" / "__init__.py").read_text()
    declared = set()
    for path in (PACKAGE / "distill").glob("*.py"):
        assert f"distill import {path.stem} " not in init
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(d, "id", None) == "register_method" for d in node.decorator_list):
                names = [s.value.value for s in node.body if isinstance(s, ast.Assign)
                         and any(getattr(t, "id", None) == "name" for t in s.targets)]
                declared |= set(names)
    assert declared and declared <= set(method_names())


def test_nothing_below_the_cli_imports_it_even_lazily():
    """The CLI is a top layer: only the processes that run a command (and ``__main__``)
    import it."""
    above = ("kd_automl.cli", "kd_automl.processes", "kd_automl.__main__")
    users = sorted(m for m, p in MODULES.items() if not m.startswith(above)
                   and any(i == "kd_automl.cli" or i.startswith("kd_automl.cli.")
                           for i in _imports(p, False)))
    assert users == []


def test_launches_keep_no_nni_state_of_their_own():
    """NNI's files and REST paths live in the NNI package; launches ask it."""
    for path in (PACKAGE / "orchestrate" / "launches").glob("*.py"):
        text = path.read_text()
        assert "nni-experiments" not in text and "api/v1/nni" not in text, path.name


def _packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the top-level packages and modules (``kd_automl.store``, ...)."""
    out: dict[str, set[str]] = {}
    for m, deps in graph.items():
        a = ".".join(m.split(".")[:2])
        out.setdefault(a, set()).update(b for d in deps
                                        if (b := ".".join(d.split(".")[:2])) != a)
    return out


def test_no_circle_anywhere_counting_function_level_imports():
    """Lazy imports included: no module circle, and the packages form layers (no package
    imports one that imports it back, directly or through others)."""
    graph = _graph(top_level_only=False)
    assert _cycle(graph) is None
    assert _cycle(_packages(graph)) is None


def test_the_engine_names_no_method():
    """Methods reach the engine through the registry and the Distiller's hooks only."""
    allowed = {"kd_automl.distill", "kd_automl.distill.base", "kd_automl.distill.registry"}
    for m, path in MODULES.items():
        if m.startswith("kd_automl.engine"):
            named = {i for i in _imports(path, top_level_only=False)
                     if i.startswith("kd_automl.distill")} - allowed
            assert not named, (m, named)
            assert '"takd"' not in path.read_text(), m

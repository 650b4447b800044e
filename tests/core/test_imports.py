import ast
import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT


def _modules_after(statement):
    code = f"import sys; {statement}; print(','.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True
    )
    return set(out.stdout.strip().split(","))


def test_core_never_imports_streamlit():
    loaded = _modules_after(
        "import medinn_core, medinn_core.cli, medinn_core.train, medinn_core.io, "
        "medinn_core.predict, medinn_core.evaluation, medinn_core.explain, medinn_core.security, "
        "medinn_core.figures, medinn_core.style"
    )
    assert "streamlit" not in loaded


def test_light_modules_do_not_import_tensorflow():
    loaded = _modules_after(
        "import medinn_core.io, medinn_core.schema, medinn_core.validate, medinn_core.preprocess"
    )
    assert "tensorflow" not in loaded and "keras" not in loaded and "shap" not in loaded


# -- no import cycle ----------------------------------------------------------------------------
PACKAGES = ("medinn_core", "medinn_app")


def _module_files() -> dict[str, Path]:
    """Every module of the packages: dotted name -> file (a package is its ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith(
        "TYPE_CHECKING"
    )


def _imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports when it runs: at the top and inside
    functions, but not under ``if TYPE_CHECKING:`` (annotations only, never run).

    ``from package import name`` counts as importing the submodule when ``name`` is one, else
    the package itself.
    """
    found: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while todo:
        node = todo.pop()
        if _type_checking_only(node):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package holding this module
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join([*package[: len(package) - node.level + 1], node.module or ""])
                base = base.rstrip(".")
            else:
                base = node.module
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module in known and module != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (its first one repeated at the end)."""
    colour = dict.fromkeys(graph, "new")
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        colour[module] = "open"
        stack.append(module)
        for other in sorted(graph[module]):
            if colour[other] == "open":
                return [*stack[stack.index(other) :], other]
            if colour[other] == "new" and (found := visit(other)):
                return found
        colour[module] = "done"
        stack.pop()
        return None

    for module in sorted(graph):
        if colour[module] == "new" and (found := visit(module)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n"
    )
    (tmp_path / "c.py").write_text("def later():\n    from d import x\n")
    (tmp_path / "d.py").write_text("import c\nx = 1\n")
    known = {"a", "b", "c", "d"}
    graph = {m: _imported(m, tmp_path / f"{m}.py", known) for m in known}
    assert graph == {"a": {"b"}, "b": set(), "c": {"d"}, "d": {"c"}}
    assert _cycle(graph) == ["c", "d", "c"]


def test_no_import_cycle_in_the_core_or_the_app():
    files = _module_files()
    graph = {name: _imported(name, path, set(files)) for name, path in files.items()}
    assert graph["medinn_app.audit"] >= {"medinn_app.identity"}  # the graph sees the app
    assert "medinn_core.explain._engine" in graph["medinn_core.explain"]
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_ray_is_imported_only_by_its_own_test():
    """Ray is an optional extra: medinn_core.batch is written for it but never imports it."""
    importers = []
    for path in ROOT.rglob("*.py"):
        if path.relative_to(ROOT).parts[0].startswith(".") or path.name == "test_ray.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(name.split(".")[0] == "ray" for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == []
    assert "ray" not in _modules_after("import medinn_core.batch, medinn_core.cli")

"""The plugin's import structure (docs/architecture.md): every module sits in one layer, imports only from its own
layer or the layers below, and no import circle exists, type-only and function-level imports included (a cycle
through a lazy import still ties the modules together, and a type-only import going up still says a lower layer
knows a higher one)."""

import ast
import pathlib
from typing import Dict, List, Set

import pytest

PACKAGE = "kubectl_rollback"
ROOT = pathlib.Path(__file__).resolve().parents[2] / PACKAGE

# docs/architecture.md's layer table, top to bottom: a module may import its own layer and the ones after it.
# A package name stands for the package and every module in it, unless a module is listed itself.
LAYERS = (
    ("entry points", ("__main__", "launch", "helpcache")),
    ("command line", ("cli", "completion")),
    ("selection", ("targets",)),
    ("commands", ("commands", "watcher")),
    ("results and printing", ("output", "render")),
    ("cluster work", ("workloads", "events", "gitops")),
    ("API", ("kube", "kubeconfig", "prometheus")),
    (
        "decisions and flags",
        (
            "options", "decide", "bluegreen", "harness_history", "records", "analysis", "condition", "verdict",
            "configrefs", "applied", "marks", "digests", "preflight",
        ),
    ),
    ("foundation", (PACKAGE, "errors", "console", "interrupts", "terminal", "cachedir")),
)


def _module_names() -> Dict[str, pathlib.Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _module_names()


def imports_of(module: str) -> Set[str]:
    """The plugin modules that `module` imports anywhere in its text."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(kept + ([base] if base else []))
            # `from package import module` imports the module; `from module import name` the module itself
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: imports_of(module) for module in MODULES}


def layer_of(module: str) -> int:
    """The layer of the longest table entry naming the module or a package that holds it."""
    best, best_length = -1, -1
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            name = member if member == PACKAGE else f"{PACKAGE}.{member}"
            if (module == name or module.startswith(name + ".")) and len(name) > best_length:
                best, best_length = index, len(name)
    return best


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Tarjan's strongly connected components with more than one module, or one that imports itself."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_module_list_is_the_plugin():
    assert {f"{PACKAGE}.cli", f"{PACKAGE}.commands.rollback", f"{PACKAGE}.workloads.base"} <= set(MODULES)
    assert f"{PACKAGE}.kube" in GRAPH[f"{PACKAGE}.workloads.base"]


def test_every_module_has_a_layer():
    assert [module for module in sorted(MODULES) if layer_of(module) < 0] == []


def test_no_import_goes_up_a_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {other} ({LAYERS[layer_of(other)][0]})"
        for module, imported in sorted(GRAPH.items())
        for other in sorted(imported)
        if layer_of(other) < layer_of(module)
    ]
    assert upward == []


def test_no_import_circle():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"a"}}, [["a"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert cycles(graph) == expected


# Where one idea has a pure half (decisions) and an I/O half (commands), the two modules share its name.
SAME_IDEA_MODULES = {"bluegreen", "gitops", "preflight"}


def test_one_name_per_idea():
    """No two classes of the plugin share a name, and no two modules do unless they are the two halves above."""
    classes: Dict[str, List[str]] = {}
    modules: Dict[str, List[str]] = {}
    for module, path in MODULES.items():
        if path.name != "__init__.py":
            modules.setdefault(path.stem, []).append(module)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).append(module)
    assert {name: where for name, where in classes.items() if len(where) > 1} == {}
    assert {name for name, where in modules.items() if len(where) > 1} == SAME_IDEA_MODULES

"""The package's plan, checked (docs/architecture.md): dependencies point one way, no import cycle (lazy imports
included), small modules, a docstring on every subpackage, and the public API of the top package unchanged."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "tinyattn_lab"

# Floors, lowest first: a module may import its own floor and the ones below, never one above.
# Same-floor imports are allowed only inside one concern (baselines and fewglue never import each other).
FLOORS = {"core": 0, "architectures": 0, "data": 1, "viz": 1, "training": 2, "baselines": 3, "fewglue": 3,
          "course": 3, "cli": 4}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def concern(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"
    if parts[1] in ("cli", "course"):
        return parts[1]
    return parts[1] if len(parts) > 2 or (PKG / parts[1]).is_dir() else "core"


def resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """Full names of the package modules that one `from ... import ...` statement loads (lazy imports too)."""
    if node.level:
        is_package = MODULES[module].name == "__init__.py"
        base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if not source.startswith("tinyattn_lab"):
        return []
    found = []
    for alias in node.names:
        child = f"{source}.{alias.name}"
        found.append(child if child in MODULES else source)
    return found


def imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(resolve(module, node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tinyattn_lab"))
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = {m: imports(m) for m in MODULES}


def test_the_graph_sees_relative_and_lazy_imports():
    assert "tinyattn_lab.counting" in GRAPH["tinyattn_lab.model"]  # module level, relative
    assert "tinyattn_lab.training.jobs" in GRAPH["tinyattn_lab.training.cli"]  # inside a function
    assert "tinyattn_lab.baselines.cli" in GRAPH["tinyattn_lab.cli"]  # `from .baselines import cli`


def test_no_import_cycle():
    state = {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(GRAPH[m]):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in MODULES:
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_dependencies_point_one_way(module):
    mine = concern(module)
    for other in GRAPH[module]:
        theirs = concern(other)
        if other == "tinyattn_lab":  # the package itself: only its own subpackages' __init__ may not need it
            theirs = "core"
        assert FLOORS[theirs] <= FLOORS[mine], f"{module} ({mine}) imports {other} ({theirs}), a floor above it"
        if FLOORS[theirs] == FLOORS[mine] and FLOORS[mine] > 0:
            assert theirs == mine, f"{module} ({mine}) imports {other} ({theirs}): two concerns on one floor"


def test_small_modules_and_a_readable_top():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, f"modules over 300 lines: {long}"
    top = [p.name for p in PKG.glob("*.py")]
    assert len(top) <= 16, f"{len(top)} modules at the top of tinyattn_lab/: {sorted(top)}"
    for package in (p for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"{package.name}/__init__.py needs a docstring saying what lives there"
    assert {"baselines", "fewglue"} <= {p.name for p in PKG.iterdir() if p.is_dir()}


def test_public_api_of_the_top_package():
    import tinyattn_lab

    names = {"PLACEMENTS", "TinyAttention", "TinyAttnConfig", "TinyAttnModel", "average_heads", "averaging_gap",
             "count_parameters", "expand_heads", "format_count", "key_padding_mask", "print_trainable_parameters",
             "roberta_large_budget", "tiny_attention_formula"}
    assert names <= set(tinyattn_lab.__all__)
    assert all(hasattr(tinyattn_lab, n) for n in tinyattn_lab.__all__)

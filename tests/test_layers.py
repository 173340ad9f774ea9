"""Imports follow the layers: edge <- model <- host <- commands, the converter on its own.

Read from the source (ast), lazy imports inside functions included, so a layer broken only on
some code path is caught too. Nothing is imported or run.
"""
import ast
import os

import pytest
from support import REPO

# folder of the repository -> layer; a module's layer is its folder's
LAYER_DIRS = {
    "coat_export/edge": "edge",
    "model": "model",
    "converters": "converters",
    "coat_export/host": "host",
    "coat_export/commands": "commands",
    "coat_export": "commands",     # cli.py, __main__.py, __init__.py
}
# what each layer may import (besides itself)
ALLOWED = {
    "edge": set(),
    "model": {"edge"},
    "converters": {"edge"},
    "host": {"edge", "model", "converters"},
    "commands": {"edge", "host", "converters"},
}
# the converter keeps its independence: of the toolkit it uses only these small shared modules
CONVERTER_SHARED = {"atomic", "interrupts", "cli_support", "third_party"}
# the edge modules the model may use: preprocessing defaults are written down once, there
MODEL_SHARED = {"defaults"}


def _modules():
    """{dotted module name: path} for every module of the distribution."""
    out = {}
    for folder, package in (("coat_export", "coat_export"), ("model", "coat_export.model"),
                            ("converters", "coat_export.converters")):
        root = os.path.join(REPO, folder)
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            if folder == "coat_export" and rel.split(os.sep)[0] in ("model", "converters"):
                continue
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if not f.endswith(".py"):
                    continue
                parts = [package] + ([] if rel == "." else rel.split(os.sep))
                if f != "__init__.py":
                    parts.append(f[:-3])
                out[".".join(parts)] = os.path.join(dirpath, f)
    return out


MODULES = _modules()


def _layer(module: str) -> str:
    if module.startswith("coat_export.model"):
        return "model"
    if module.startswith("coat_export.converters"):
        return "converters"
    for prefix, layer in (("coat_export.edge", "edge"), ("coat_export.host", "host"),
                          ("coat_export.commands", "commands")):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "commands"


def _imports(module: str, path: str):
    """The toolkit modules `module` imports (absolute names), with line numbers."""
    is_package = path.endswith("__init__.py")
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import submodule` imports the submodule
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
                     for a in node.names]
        else:
            continue
        for name in names:
            for top, real in (("model", "coat_export.model"), ("converters", "coat_export.converters")):
                if name == top or name.startswith(top + "."):
                    name = real + name[len(top):]
            if name.split(".")[0] != "coat_export":
                continue
            while name not in MODULES and "." in name:
                name = name.rsplit(".", 1)[0]
            found.append((name, node.lineno))
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_the_distribution_is_read():
    assert "coat_export.edge.predict" in MODULES and "coat_export.host.pipeline" in MODULES
    assert "coat_export.converters.api" in MODULES and "coat_export.model.coat" in MODULES
    assert any(t == "coat_export.converters" for t, _ in GRAPH["coat_export.host.pipeline"])


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_follow_the_layers(layer):
    wrong = []
    for module, targets in GRAPH.items():
        if _layer(module) != layer:
            continue
        for target, line in targets:
            other = _layer(target)
            if target == "coat_export" or other == layer:
                continue
            tail = target.split(".")[-1]
            if other not in ALLOWED[layer] \
                    or (layer == "converters" and tail not in CONVERTER_SHARED) \
                    or (layer == "model" and tail not in MODEL_SHARED):
                wrong.append(f"{MODULES[module]}:{line}: {module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_converter_is_used_through_its_public_api():
    """Outside the converter only the package itself (its __all__) is imported."""
    wrong = [f"{MODULES[m]}:{line}: {m} imports {t}"
             for m, targets in GRAPH.items() if _layer(m) != "converters"
             for t, line in targets
             if _layer(t) == "converters" and t != "coat_export.converters"]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    """No module reaches itself through imports, lazy ones included (a cycle held apart only
    by an import inside a function is still a cycle)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):   # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w, _ in GRAPH.get(v, ()):
            if w == v or w not in MODULES:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package importing its own submodules (re-exports) is not a cycle of layers
            real = [m for m in component
                    if not any(o != m and o.startswith(m + ".") for o in component)]
            if len(real) > 1:
                cycles.append(sorted(component))

    for m in sorted(MODULES):
        if m not in index:
            visit(m)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_one_namespace_is_installed():
    """pyproject installs model/ and converters/ as coat_export.model / coat_export.converters
    and lists every package folder (a new subpackage left out would be missing on install)."""
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        setup = tomllib.load(f)["tool"]["setuptools"]
    assert setup["package-dir"] == {"coat_export.model": "model",
                                    "coat_export.converters": "converters"}
    packages = {m for m, p in MODULES.items() if p.endswith("__init__.py")}
    assert set(setup["packages"]) == packages
    assert all(p.startswith("coat_export") for p in setup["packages"])

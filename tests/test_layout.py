"""The code's layout, checked: imports go one way (docs/architecture.md), modules stay readable, and no module or
Makefile line lists the paper's datasets again (the manifest is the one place that does)."""
import ast
import os
import re

from bench.paper.manifest import load_manifest
from tests.helpers import ROOT

PACKAGES = ("bench", "strategies", "datasets")
# bench's layers, lowest first: a module may import its own layer and those below it, never one above
LAYERS = ["bench.core", "bench.trial", "bench.features", "bench.analysis", "bench.paper", "bench.perf"]
TOP = {"bench.cli": len(LAYERS), "bench.__main__": len(LAYERS), "bench.adapter": 0, "bench.pool": 0, "bench": 0}


def modules():
    """{module name: path} of every first-party module."""
    out = {}
    for pkg in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3].split(os.sep)
                    out[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = os.path.join(folder, f)
    return out


def imports(mods):
    """(importer, imported module, inside a function, line) for every first-party import, module-level and local."""
    def resolve(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    found = []
    for name, path in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        local = {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and not n.level and n.module:
                targets = [f"{n.module}.{a.name}" if f"{n.module}.{a.name}" in mods else n.module for a in n.names]
            else:
                continue
            for t in targets:
                if t.split(".")[0] in PACKAGES:
                    found.append((name, resolve(t), id(n) in local, n.lineno))
    return found


MODS = modules()
EDGES = imports(MODS)


def layer(module: str) -> int:
    if module in TOP:
        return TOP[module]
    return next(i for i, p in enumerate(LAYERS) if module == p or module.startswith(p + "."))


def find_cycles(edges):
    """Every import cycle of ``edges`` (importer, imported, ...), each as the list of modules around it."""
    graph = {}
    for a, b, *_ in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
    state, cycles = {}, []

    def visit(v, path):
        state[v] = 1
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                cycles.append(path[path.index(w):] + [w])
            elif w not in state:
                visit(w, path + [w])
        state[v] = 2

    for v in sorted(graph):
        if v not in state:
            visit(v, [v])
    return cycles


def test_no_import_cycle_counting_function_local_imports():
    cycles = find_cycles(EDGES)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_strategies_datasets_and_core_import_only_core_of_bench():
    bad = [(a, b, line) for a, b, _, line in EDGES
           if (a.startswith(("strategies", "datasets", "bench.core"))) and b.startswith("bench")
           and not (b == "bench.core" or b.startswith("bench.core."))]
    assert not bad, bad


def test_bench_imports_go_one_way():
    bad = [(a, b, line) for a, b, _, line in EDGES if a.startswith("bench") and b.startswith("bench")
           and layer(b) > layer(a)]
    assert not bad, f"a module imports a layer above its own ({' < '.join(LAYERS)}): {bad}"


def test_few_function_local_imports_in_bench():
    local = sorted({(a, line) for a, b, is_local, line in EDGES if is_local and a.startswith("bench")})
    assert len(local) <= 15, local   # import statements inside functions (the deliberate ones say why)


def test_modules_stay_readable():
    long = {m: n for m, p in MODS.items() if (n := sum(1 for _ in open(p))) > 450}
    assert not long, f"modules over 450 lines: {long}"
    top = [f for f in os.listdir(os.path.join(ROOT, "bench")) if f.endswith(".py")]
    subs = [d for d in os.listdir(os.path.join(ROOT, "bench"))
            if os.path.exists(os.path.join(ROOT, "bench", d, "__init__.py"))]
    assert len(top) <= 6 and len(subs) >= 4, (top, subs)


def paper_dataset_pattern():
    names = {d for a in load_manifest()["artifacts"].values() for d in a.get("datasets", [])}
    assert len(names) >= 6   # the check must have something to look for
    return re.compile(r"(?<![\w/.])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")(?!\w)")


def test_the_paper_datasets_are_listed_in_the_manifest_only():
    pattern = paper_dataset_pattern()
    hits = []
    for m, p in MODS.items():
        if m.startswith("bench"):
            with open(p) as f:
                hits += [f"{p}:{i}" for i, line in enumerate(f, 1) if pattern.search(line)]
    with open(os.path.join(ROOT, "Makefile")) as f:
        hits += [f"Makefile:{i}" for i, line in enumerate(f, 1) if pattern.search(line)]
    assert not hits, hits


def test_the_layout_checks_can_fail(tmp_path):
    """The checks above see what they are meant to: a planted cycle, a reverse import, a dataset name."""
    assert find_cycles([("a", "b", True, 1), ("b", "c", False, 1), ("c", "a", False, 1)]) == [["a", "b", "c", "a"]]
    assert not find_cycles([("a", "b", True, 1), ("b", "c", False, 1)])
    assert layer("bench.cli") > layer("bench.paper.report") > layer("bench.trial.loop") > layer("bench.core.pool")
    assert any(b.startswith("bench.core") for a, b, _, _ in EDGES if a.startswith("strategies"))
    planted = tmp_path / "planted.py"   # a function-local import is seen, and counted as local
    planted.write_text("import os\n\n\ndef f():\n    from bench.paper import report\n    return report\n")
    found = [e for e in imports({"bench.core.planted": str(planted), **MODS}) if e[0] == "bench.core.planted"]
    assert found == [("bench.core.planted", "bench.paper.report", True, 5)]
    pattern = paper_dataset_pattern()
    assert pattern.search('TRIAL = {"dataset": "cifar10_dom1"}') and not pattern.search("digits_dom1 cifar10_dom1x")

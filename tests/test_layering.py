"""The package layers: every ``blurkit`` import (module level or inside a function) points down, never up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import blurkit

PKG = Path(blurkit.__file__).parent
# Rank of each package; a module may import its own package and any package of a lower rank. The shared top-level
# modules are rank 0 and import only each other.
RANK = {"_top": 0, "data": 1, "space": 2, "generator": 2, "deblur": 3, "baselines": 4, "experiments": 5, "teaching": 5, "cli": 6}
TOP_MODULES = {"__init__", "errors", "paths", "files", "profiles", "progress", "provenance", "paper", "plots", "precision"}


def _layer(module: str) -> str:
    """``blurkit.space.train`` -> ``space``; ``blurkit.errors`` -> ``_top``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "_top"


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "blurkit":
                out += [(node.lineno, f"blurkit.{a.name}") for a in node.names]
            elif node.module.startswith("blurkit."):
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("blurkit.")]
    return out


def _module_name(path: Path) -> str:
    return ".".join(("blurkit", *path.relative_to(PKG).with_suffix("").parts))


MODULES = sorted(PKG.rglob("*.py"))


def test_top_level_holds_only_shared_modules() -> None:
    top = {p.stem for p in PKG.glob("*.py")}
    assert top == TOP_MODULES
    assert {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(RANK) - {"_top"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path: Path) -> None:
    here = _layer(_module_name(path))
    for line, target in _imports(path):
        there = _layer(target)
        if here == "_top" and path.name == "__init__.py" and path.parent == PKG:
            continue  # the package's lazy exports name modules as strings, not imports
        assert there == here or RANK[there] < RANK[here], f"{path.relative_to(PKG)}:{line} imports {target} (up a layer)"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from blurkit.deblur.solver import deblur\n")
    assert [(line, _layer(t)) for line, t in _imports(bad)] == [(2, "deblur")]
    assert RANK["deblur"] > RANK["space"]


def test_every_package_says_what_it_may_import() -> None:
    for pkg in set(RANK) - {"_top"}:
        doc = ast.get_docstring(ast.parse((PKG / pkg / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), pkg


def test_lazy_exports_resolve() -> None:
    for name in blurkit.__all__:
        assert getattr(blurkit, name) is not None

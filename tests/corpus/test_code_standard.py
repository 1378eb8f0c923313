"""The corpus builder is held to the package's standard: short lines, names that say what
things are (issue 14: it grew with 100+ character lines and one-letter names)."""

from __future__ import annotations

import ast
from pathlib import Path

import clapldm.corpus

PACKAGE = Path(clapldm.corpus.__file__).resolve().parent
FILES = sorted(PACKAGE.rglob("*.py"))


def _bound_names(tree: ast.AST) -> list[tuple[str, int]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append((node.id, node.lineno))
        elif isinstance(node, ast.arg):
            names.append((node.arg, node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append((node.name, node.lineno))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.append((node.name, node.lineno))
        elif isinstance(node, ast.alias) and node.asname:
            names.append((node.asname, node.lineno))
    return names


def test_the_package_is_scanned() -> None:
    assert {path.name for path in FILES} >= {"build.py", "captions.py", "midi.py", "words.py"}


def test_no_line_over_100_characters() -> None:
    long_lines = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in FILES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > 100
    ]
    assert long_lines == []


def test_no_one_letter_names() -> None:
    short = [
        f"{path.relative_to(PACKAGE)}:{line} {name}"
        for path in FILES
        for name, line in _bound_names(ast.parse(path.read_text(encoding="utf-8")))
        if len(name) == 1 and name != "_"
    ]
    assert short == []

"""A family defined in a user's file: its module run from the file's text with the file's
folder importable (as Python does for a script), and one digest over the file and the modules
it imports from that folder, so that an edited helper module is noticed like an edited file."""

from __future__ import annotations

import ast
import hashlib
import sys
import types
from pathlib import Path
from .errors import InputError


class FamilyFileError(InputError):
    """A family's file cannot be read or does not run."""


def read_text(path: Path, spec: str) -> str:
    """The text of the file `spec` names, or one line saying why it cannot be read."""
    try:
        return path.read_text()
    except OSError as error:
        raise FamilyFileError(f"{spec}: cannot read {path}: {error.strerror or error}; if the file moved, "
                              "give --equation-from NEW_PATH.py:ClassName") from None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def helper_files(text: str, path: Path) -> list[Path]:
    """The Python files beside `path` that its text imports (a module `name.py`, or every file
    of a package `name/`), and those they import in turn, sorted."""
    folder, found, waiting = path.parent, set(), [text]
    while waiting:
        for name in _imported_names(waiting.pop()):
            module, package = folder / f"{name}.py", folder / name
            files = [module] if module.is_file() else sorted(package.rglob("*.py")) if package.is_dir() else []
            for file in files:
                if file != path and file not in found:
                    found.add(file)
                    waiting.append(file.read_text())
    return sorted(found)


def _imported_names(text: str) -> set[str]:
    """The top-level names of the modules `text` imports absolutely."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def family_digest(text: str, path: Path) -> str:
    """The sha256 of a family file's text, and of its helper modules where it imports any
    (a file without helpers keeps the plain sha256 of its text, as runs recorded it before)."""
    helpers = helper_files(text, path)
    if not helpers:
        return sha256(text)
    parts = [text] + [f"{helper.relative_to(path.parent)}\0{helper.read_text()}" for helper in helpers]
    return sha256("\0".join(parts))


_MODULES: dict[str, types.ModuleType] = {}


def module_from_code(text: str, path: Path) -> types.ModuleType:
    """The module a user's file defines, run once per distinct text, with the file's folder
    importable (put first on the import path, where it stays for imports made later)."""
    digest = sha256(text)
    if digest not in _MODULES:
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = f"pinn_pac_user_{digest[:16]}"
        module = types.ModuleType(name)
        module.__file__ = str(path)
        sys.modules[name] = module  # dataclasses and pickling look classes up by module
        try:
            exec(compile(text, str(path), "exec"), module.__dict__)
        except Exception as error:
            del sys.modules[name]
            raise FamilyFileError(f"{path} does not run: {type(error).__name__}: {error}") from None
        _MODULES[digest] = module
    return _MODULES[digest]

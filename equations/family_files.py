"""A family defined in a user's file, with the modules it imports from beside it (helpers: a
module `name.py` or a package `name/`): their texts read once, hashed together (so an edited
helper is noticed like an edited file), and run from those texts, never from the disk again,
so that a worker trains what its run started from, on this machine or another."""

from __future__ import annotations

import ast
import hashlib
import importlib.abc
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from .errors import UnknownEquationError


class FamilyFileError(UnknownEquationError):
    """A family's file (or a helper it imports) cannot be read or does not run."""


@dataclass(frozen=True)
class FamilyText:
    """A family file's text and its helpers' texts, by path relative to its folder."""

    path: Path
    text: str
    helpers: tuple[tuple[str, str], ...] = ()

    @property
    def digest(self) -> str:
        """The sha256 of the file's text, with its helpers' where it has any (a file without
        helpers keeps the plain sha256 of its text, as runs recorded it before helpers were)."""
        if not self.helpers:
            return sha256(self.text)
        return sha256("\0".join([self.text, *(f"{name}\0{text}" for name, text in self.helpers)]))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_family(path: Path, spec: str, text: str | None = None) -> FamilyText:
    """The family file `spec` names (its `text`, where already read) and its helpers, read
    now; one line saying why where a file cannot be read."""
    folder, found, waiting = path.parent, {}, [text if text is not None else read_text(path, spec)]
    family_text = waiting[0]
    while waiting:
        for name in _imported_names(waiting.pop()):
            module, package = folder / f"{name}.py", folder / name
            files = [module] if module.is_file() else sorted(package.rglob("*.py")) if package.is_dir() else []
            for file in files:
                relative = file.relative_to(folder).as_posix()
                if file != path and relative not in found:
                    found[relative] = read_text(file, spec)
                    waiting.append(found[relative])
    return FamilyText(path, family_text, tuple(sorted(found.items())))


def read_text(path: Path, spec: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise FamilyFileError(f"{spec}: cannot read {path}: {reason}; if the file moved, "
                              "give --equation-from NEW_PATH.py:ClassName") from None


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


class _HelperTexts(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves a family's helpers from their texts while the family's module runs."""

    def __init__(self, family: FamilyText) -> None:
        self.family = family
        self.texts = dict(family.helpers)

    def _file(self, fullname: str) -> tuple[str, bool] | None:
        base = fullname.replace(".", "/")
        for relative, package in ((f"{base}.py", False), (f"{base}/__init__.py", True)):
            if relative in self.texts:
                return relative, package
        return None

    def find_spec(self, fullname, path=None, target=None):
        found = self._file(fullname)
        if found is None:
            return None
        relative, package = found
        origin = str(self.family.path.parent / relative)
        return importlib.util.spec_from_loader(fullname, self, origin=origin, is_package=package)

    def create_module(self, spec):
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        relative, package = self._file(module.__name__)
        if package:
            module.__path__ = [str(self.family.path.parent / Path(relative).parent)]
        exec(compile(self.texts[relative], module.__spec__.origin, "exec"), module.__dict__)


_MODULES: dict[str, types.ModuleType] = {}


def module_from_family(family: FamilyText) -> types.ModuleType:
    """The module a user's file defines, run once per distinct digest, its helpers imported
    from their texts under their own names for as long as it runs (then taken out of
    `sys.modules` again, so that two families' helpers of one name never meet)."""
    digest = family.digest
    if digest not in _MODULES:
        name = f"pinn_pac_user_{digest[:16]}"
        module = types.ModuleType(name)
        module.__file__ = str(family.path)
        helpers = _HelperTexts(family)
        names = {relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                 for relative, _ in family.helpers}
        hidden = {n: sys.modules.pop(n) for n in names if n in sys.modules}
        sys.modules[name] = module  # dataclasses and pickling look classes up by module
        sys.meta_path.insert(0, helpers)
        try:
            exec(compile(family.text, str(family.path), "exec"), module.__dict__)
        except Exception as error:
            del sys.modules[name]
            raise FamilyFileError(f"{family.path} does not run: {type(error).__name__}: {error}") from None
        finally:
            sys.meta_path.remove(helpers)
            for n in names:
                sys.modules.pop(n, None)
            sys.modules.update(hidden)
        _MODULES[digest] = module
    return _MODULES[digest]

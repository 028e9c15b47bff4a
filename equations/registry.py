"""Where equation families come from, and how a run finds its family again.

A family is named by a spec: a built-in name ("burgers"), the name of a class registered in
this process (`register`) or shipped by an installed package under the entry-point group
"pinn_pac.equations", a user's file ("path/to/file.py:ClassName") or an importable module
("package.module:ClassName"). `resolve` turns a spec into the class and an `EquationSource`:
what a run stores to rebuild it (a file or module by its path and the sha256 of its source,
which is checked when the run is reloaded; for a file, the sha256 of it and the modules it
imports from beside it), and what other processes load it from (a file's text and its helpers'
travel with it, so a worker on another machine needs no copy of them).
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import InputError
from .base import Equation
from .errors import UnknownEquationError
from .family_files import FamilyText, module_from_family, read_family, read_text, sha256

ENTRY_POINT_GROUP = "pinn_pac.equations"
BUILTIN, REGISTERED, PLUGIN, FILE, MODULE = "builtin", "registered", "plugin", "file", "module"


@dataclass(frozen=True)
class EquationSource:
    """How to load a family again: its kind, the spec that names it, its name, and for a
    file or module the path of its source and that source's sha256."""

    kind: str
    spec: str
    name: str
    path: str | None = None
    sha256: str | None = None
    #: A file's text and its helpers' texts, carried to other processes (never stored in a
    #: run's files): a worker runs these, whatever the files hold meanwhile.
    texts: FamilyText | None = field(default=None, compare=False, repr=False)

    def as_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("kind", "spec", "name", "path", "sha256")}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "EquationSource":
        return cls(**{k: record.get(k) for k in ("kind", "spec", "name", "path", "sha256")})

    def load(self, allow_changed: bool = False) -> type[Equation]:
        """The family's class, its source checked against the recorded sha256 (a file whose
        texts came with this source loads from them, whatever the files hold now)."""
        if self.kind == FILE:
            # The texts carried along win over the files: a worker trains what its run started from.
            texts = self.texts if self.texts is not None else read_family(Path(self.path), self.spec)
            self._check(texts.digest, allow_changed)
            cls = _class_in(module_from_family(texts), self.spec)
            _SOURCES[cls] = EquationSource(FILE, self.spec, self.name, self.path, texts.digest, texts)
            return cls
        if self.kind == MODULE:
            cls = _class_from_module(self.spec)
            self._check(_module_source(cls, self.spec).sha256, allow_changed)
            return cls
        return family(self.spec)

    def _check(self, now: str, allow_changed: bool) -> None:
        if self.sha256 is not None and now != self.sha256 and not allow_changed:
            raise UnknownEquationError(
                f"{self.path} changed since the run was made (sha256 {self.sha256[:12]} then, {now[:12]} now); "
                "give --allow-changed-equation to rebuild the run from it as it is now")

    def relocated(self, spec: str) -> "EquationSource":
        """This source read from where `spec` (file.py:Class) says it is now, its recorded
        sha256 kept, so that a moved file is checked against what the run was made from."""
        cls, moved = resolve(spec)
        if moved.kind not in (FILE, MODULE) or cls.name != self.name:
            raise UnknownEquationError(f"--equation {spec} is the family {cls.name!r}; the run was made with "
                                       f"{self.name!r} from {self.spec}")
        return EquationSource(moved.kind, moved.spec, moved.name, moved.path, self.sha256, moved.texts)


_BUILTINS: dict[str, type[Equation]] = {}
_REGISTERED: dict[str, type[Equation]] = {}
#: The source each class was resolved from, so a run made from one can record it.
_SOURCES: dict[type, EquationSource] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def set_builtins(classes: dict[str, type[Equation]]) -> None:
    _BUILTINS.update(classes)


def register(cls: type[Equation]) -> type[Equation]:
    """Make `cls` a family by its name in this process (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Equation)):
        raise TypeError(f"register takes an Equation subclass, got {cls!r}")
    key = _key(cls.name)
    if key in _BUILTINS:
        raise InputError(f"{cls.name!r} is a built-in family; give yours another name")
    _REGISTERED[key] = cls
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if path and cls.__module__ != "__main__" and not cls.__module__.startswith("pinn_pac_user_"):
        _SOURCES[cls] = _module_source(cls, f"{cls.__module__}:{cls.__qualname__}")
    return cls


def plugins() -> dict[str, type[Equation] | str]:
    """The families installed packages ship, by name (an entry point that fails to load is
    given as the one-line reason instead of a class)."""
    found: dict[str, type[Equation] | str] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = point.load()
        except Exception as error:  # a broken plug-in must not break the others
            found[_key(point.name)] = f"{point.value} does not load: {type(error).__name__}: {error}"
            continue
        found[_key(point.name)] = cls
        _SOURCES.setdefault(cls, EquationSource(PLUGIN, _key(point.name), getattr(cls, "name", point.name)))
    return found


def family(spec: str) -> type[Equation]:
    """The class a spec names (see the module's docstring)."""
    return resolve(spec)[0]


def resolve(spec: str) -> tuple[type[Equation], EquationSource]:
    """The class `spec` names and where it came from."""
    spec = spec.strip()
    if ":" in spec:
        location, _, name = spec.rpartition(":")
        if location.endswith(".py") or "/" in location or "\\" in location:
            path = Path(location).expanduser().resolve()
            texts = read_family(path, spec)
            cls = _class_in(module_from_family(texts), spec)
            source = EquationSource(FILE, f"{path}:{name}", cls.name, str(path), texts.digest, texts)
        else:
            cls = _class_from_module(spec)
            source = _module_source(cls, spec)
        _SOURCES[cls] = source
        return cls, source
    key = _key(spec)
    if key in _BUILTINS:
        return _BUILTINS[key], EquationSource(BUILTIN, key, key)
    if key in _REGISTERED:
        cls = _REGISTERED[key]
        return cls, _SOURCES.get(cls, EquationSource(REGISTERED, key, key))
    installed = plugins()
    if isinstance(installed.get(key), type):
        return installed[key], _SOURCES[installed[key]]
    if key in installed:
        raise UnknownEquationError(f"the plug-in equation {key!r}: {installed[key]}")
    known = sorted({*_BUILTINS, *_REGISTERED, *installed})
    raise UnknownEquationError(f"unknown equation {spec!r}; available: {', '.join(known)}, or give "
                               "path/to/file.py:ClassName or package.module:ClassName")


def source_of(cls: type[Equation]) -> EquationSource:
    """Where `cls` came from, as a run records it: a built-in or plug-in by name, a file or
    module by path and sha256; a class defined elsewhere (a script, a notebook) by name only."""
    if cls in _SOURCES:
        return _SOURCES[cls]
    key = _key(cls.name)
    if _BUILTINS.get(key) is cls:
        return EquationSource(BUILTIN, key, key)
    return EquationSource(REGISTERED, key, cls.name)


def _module_source(cls: type[Equation], spec: str) -> EquationSource:
    """The source of a class defined in an importable module: that module's file and its sha256."""
    file = Path(sys.modules[cls.__module__].__file__).resolve()
    return EquationSource(MODULE, spec, cls.name, str(file), sha256(read_text(file, spec)))


def _class_in(module: types.ModuleType, spec: str) -> type[Equation]:
    name = spec.rpartition(":")[2]
    cls = getattr(module, name, None)
    if cls is None:
        defined = sorted(k for k, v in vars(module).items()
                         if isinstance(v, type) and issubclass(v, Equation) and v is not Equation
                         and v.__module__ == module.__name__)
        raise UnknownEquationError(f"{spec}: no class {name} there (it defines: {', '.join(defined) or 'none'})")
    if not (isinstance(cls, type) and issubclass(cls, Equation)):
        raise UnknownEquationError(f"{spec}: {name} is not a subclass of equations.Equation")
    return cls


def _class_from_module(spec: str) -> type[Equation]:
    module_name, _, name = spec.rpartition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownEquationError(f"{spec}: cannot import {module_name}: {error}") from None
    return _class_in(module, spec)

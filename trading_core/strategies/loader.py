"""Loading user strategies: a Python file (``--strategy-file``) or an installed entry point.

A strategy file defines exactly one concrete ``Strategy`` subclass (classes it imports, such
as a built-in it extends, do not count; abstract helper bases do not count). A package
exposes its strategies under the entry point group ``trading_pipelines.strategies``, one
entry point per strategy, named like the class's ``name``::

    [project.entry-points."trading_pipelines.strategies"]
    ema_cross = "my_package.ema_cross:EmaCrossStrategy"

Every failure - a missing file, a syntax error, an import error inside the file, no or two
Strategy subclasses, a class without ``name`` or ``params_model`` - is a ``StrategyError``
whose message is one line naming the file (or the entry point) and what is wrong.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import keyword
import sys
import traceback
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

from trading_core.strategies.base import Strategy, StrategyError, StrategyParams

ENTRY_POINT_GROUP = "trading_pipelines.strategies"

# User modules live under this prefix in sys.modules (pydantic resolves a model's postponed
# annotations through its module, so the module must be registered while it runs).
MODULE_PREFIX = "trading_user_strategies"


def _line_in(path: Path, err: BaseException) -> str:
    """`` (line N)`` of the deepest traceback frame inside ``path``, or ''."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename) == path]
    return f" (line {frames[-1].lineno})" if frames else ""


def one_line(text: str) -> str:
    """A possibly multi-line message as one line: ``head: first; second``."""
    head, *rest = [part.strip() for part in str(text).splitlines() if part.strip()] or [""]
    return f"{head.rstrip(':')}: {'; '.join(rest)}" if rest else head


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    return f"{MODULE_PREFIX}.{stem}_{digest}"


def _execute(path: Path) -> ModuleType:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StrategyError(f"strategy file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise StrategyError(f"strategy file {path}: cannot be read: {err}") from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as err:
        raise StrategyError(
            f"strategy file {path}: syntax error at line {err.lineno}: {err.msg}"
        ) from None
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:  # only for paths importlib cannot describe at all
        raise StrategyError(f"strategy file {path}: not importable as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except Exception as err:
        del sys.modules[name]
        raise StrategyError(
            f"strategy file {path}: import failed{_line_in(path, err)}: "
            f"{type(err).__name__}: {one_line(str(err))}"
        ) from None
    return module


def defined_strategies(module: ModuleType) -> list[type[Strategy]]:
    """The concrete Strategy subclasses defined in ``module`` itself, in definition order."""
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Strategy)
        and obj.__module__ == module.__name__
        and not inspect.isabstract(obj)
    ]


def check_strategy_class(cls: object, origin: str) -> type[Strategy]:
    """``cls`` if it is a usable Strategy class, else a one-line ``StrategyError``."""
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise StrategyError(f"{origin}: {cls!r} is not a Strategy subclass")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise StrategyError(f"{origin}: {cls.__name__} is abstract; implement {missing}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise StrategyError(
            f"{origin}: {cls.__name__}.name must be a lowercase identifier such as "
            f"'ema_cross', got {name!r}"
        )
    if name != name.lower():
        raise StrategyError(f"{origin}: {cls.__name__}.name must be lowercase, got {name!r}")
    model = getattr(cls, "params_model", None)
    if not (inspect.isclass(model) and issubclass(model, StrategyParams)):
        raise StrategyError(
            f"{origin}: {cls.__name__}.params_model must be a StrategyParams subclass, "
            f"got {model!r}"
        )
    columns = getattr(cls, "required_columns", None)
    if not isinstance(columns, tuple) or not all(isinstance(c, str) for c in columns):
        raise StrategyError(
            f"{origin}: {cls.__name__}.required_columns must be a tuple of column names, "
            f"got {columns!r}"
        )
    return cls


def _single_strategy(module: ModuleType, origin: str) -> type[Strategy]:
    found = defined_strategies(module)
    if not found:
        raise StrategyError(
            f"{origin}: defines no Strategy subclass (subclass "
            "trading_core.strategies.Strategy and implement warmup and compute)"
        )
    if len(found) > 1:
        names = ", ".join(cls.__name__ for cls in found)
        raise StrategyError(
            f"{origin}: defines {len(found)} Strategy subclasses ({names}); "
            "a strategy file must define exactly one"
        )
    return check_strategy_class(found[0], origin)


def load_strategy_file(path: Path | str) -> type[Strategy]:
    """The one Strategy subclass defined in the Python file ``path`` (executed afresh)."""
    resolved = Path(path).expanduser().resolve()
    if resolved.suffix != ".py":
        raise StrategyError(f"strategy file {resolved}: expected a .py file")
    module = _execute(resolved)
    return _single_strategy(module, f"strategy file {resolved}")


def load_entry_point(entry_point: EntryPoint) -> type[Strategy]:
    """The Strategy class an entry point names (a class, or a module defining one)."""
    origin = f"entry point {entry_point.name} = {entry_point.value} ({ENTRY_POINT_GROUP})"
    try:
        target = entry_point.load()
    except Exception as err:
        raise StrategyError(
            f"{origin}: import failed: {type(err).__name__}: {one_line(str(err))}"
        ) from None
    cls = _single_strategy(target, origin) if inspect.ismodule(target) else target
    cls = check_strategy_class(cls, origin)
    if cls.name != entry_point.name:
        raise StrategyError(
            f"{origin}: the entry point is named {entry_point.name!r} but "
            f"{cls.__name__}.name is {cls.name!r}; they must be equal"
        )
    return cls


def source_of(cls: type[Strategy]) -> str:
    """Where a strategy class comes from, for messages: its file, else its module."""
    try:
        return str(Path(inspect.getfile(cls)).resolve())
    except (OSError, TypeError):
        return cls.__module__

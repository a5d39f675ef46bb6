"""Name → class lookup for tasks and model adapters.

Built-in plugins live in the ``tasks`` and ``model_adapters`` packages and register themselves
with a decorator when their module is imported; every module there is imported on the first
lookup. Third-party packages add plugins without touching thbench by declaring an entry point
in the ``thbench.tasks`` or ``thbench.adapters`` group that names either a module (whose import
runs the decorators) or the class itself.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import pkgutil
from typing import Callable, Generic, TypeVar, cast

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=type)


class UnknownNameError(LookupError):
    pass


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str, builtin_package: str, listing: str | None = None) -> None:
        self.kind = kind
        #: The ``thbench list`` argument that shows this registry's names.
        self.listing = listing or f"{kind}s"
        self.entry_point_group = entry_point_group
        self.builtin_package = builtin_package
        self._classes: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(cls: T) -> T:
            self.add(name, cls)
            return cls

        return decorator

    def add(self, name: str, cls: T) -> None:
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(
                f"{self.kind} name {name!r} is registered twice: by {_qualname(existing)} "
                f"and by {_qualname(cls)}; rename one of them"
            )
        setattr(cls, "name", name)
        self._classes[name] = cls

    def get(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._classes[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._classes, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} `thbench list {self.listing}` shows them all."
            ) from None

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._classes)

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._classes[name]) for name in self.names()]

    def _load_plugins(self) -> None:
        if self._loaded:
            return
        package = importlib.import_module(self.builtin_package)
        for module in pkgutil.iter_modules(package.__path__, prefix=f"{self.builtin_package}."):
            try:
                importlib.import_module(module.name)
            except ImportError as error:
                # A built-in plugin that does not import is a broken install; every later lookup
                # fails the same way instead of finding a half-filled registry.
                raise ImportError(f"built-in {self.kind} module {module.name} does not import ({error}); "
                                  "reinstall thbench (make setup)") from error
        self._loaded = True
        for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
            try:
                loaded = entry_point.load()
            except Exception as error:  # a broken third-party plugin must not hide the others
                logger.warning("could not load %s plugin %r: %s", self.kind, entry_point.value, error)
                continue
            if isinstance(loaded, type):
                self.add(entry_point.name, cast(T, loaded))


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"

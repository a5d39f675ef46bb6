"""Typed options for tasks and adapters from ``k=v,k2=v2`` strings.

Each plugin declares its options as a dataclass; the command line stays a flat string, and a
misspelt or mistyped option fails before any weights load, naming the options that exist.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

O = TypeVar("O")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class OptionError(ValueError):
    pass


#: What an option changes, besides what is asked of the model (the default):
#: ``scoring`` only how outputs are scored (a change re-scores stored outputs),
#: ``location`` only where the data lies or which part is read (left out of sample keys),
#: ``set_metric`` only set-level metrics such as FID (a change recomputes those alone).
OptionRole = typing.Literal["scoring", "location", "set_metric"]
OPTION_ROLES: tuple[str, ...] = typing.get_args(OptionRole)


def option(default: Any = dataclasses.MISSING, *, role: OptionRole | None = None, minimum: float | None = None,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that declares its role where it is defined, so that a renamed option
    can never leave a stale name in a list elsewhere, and its smallest sensible value, so that
    ``num_images=-1`` fails when the options are read rather than on every sample."""
    if role is not None and role not in OPTION_ROLES:
        raise ValueError(f"option role must be one of {', '.join(OPTION_ROLES)}, got {role!r}")
    metadata: dict[str, Any] = {}
    if role is not None:
        metadata["role"] = role
    if minimum is not None:
        metadata["minimum"] = minimum
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def option_roles(options_type: type) -> dict[str, tuple[str, ...]]:
    """Field names per role, in field order, as declared with :func:`option`."""
    roles: dict[str, list[str]] = {role: [] for role in OPTION_ROLES}
    for f in dataclasses.fields(options_type):
        role = f.metadata.get("role")
        if role is not None:
            roles[role].append(f.name)
    return {role: tuple(names) for role, names in roles.items()}


@dataclasses.dataclass(frozen=True)
class NoOptions:
    pass


def parse_key_values(text: str | None) -> dict[str, str]:
    """Split ``"a=1,b=x"``; a value may contain ``=`` but not ``,``."""
    if not text:
        return {}
    pairs: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"expected key=value, got {item!r} in {text!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def build_options(options_type: type[O], values: Mapping[str, Any], owner: str) -> O:
    """Instantiate ``options_type`` from strings (or already-typed values)."""
    fields = {f.name: f for f in dataclasses.fields(typing.cast(Any, options_type))}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise OptionError(f"{owner} has no option {', '.join(map(repr, unknown))}; its options: {known}")
    hints = typing.get_type_hints(options_type)
    converted = {name: _convert(value, hints[name], f"{owner} option {name!r}") for name, value in values.items()}
    for name, value in converted.items():
        minimum = fields[name].metadata.get("minimum")
        if minimum is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and not value >= minimum:
            raise OptionError(f"{owner} option {name!r} must be at least {minimum:g}, got {value!r}")
    return options_type(**converted)


def options_as_dict(options: Any) -> dict[str, Any]:
    """JSON-friendly view of an options dataclass, for manifests and fingerprints."""
    return {f.name: _jsonable(getattr(options, f.name)) for f in dataclasses.fields(options)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _convert(value: Any, annotation: Any, what: str) -> Any:
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value.lower() in {"", "none", "null"} and len(arguments) < len(typing.get_args(annotation)):
            return None
        annotation = arguments[0]
        origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise OptionError(f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    try:
        if annotation is bool:
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)
        if annotation is int:
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is Path:
            return Path(value).expanduser()
    except ValueError:
        raise OptionError(f"{what} expects {getattr(annotation, '__name__', annotation)}, got {value!r}") from None
    return value

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from bench.registry import Registry, UnknownNameError


class Base:
    pass


def test_builtins_are_found_and_typos_get_suggestions():
    from bench.adapter import ADAPTERS

    assert {"ocr-pipeline", "glyph-render"} <= set(ADAPTERS.names())
    with pytest.raises(UnknownNameError, match="Did you mean ocr-pipeline"):
        ADAPTERS.get("ocr-pipelin")


def test_a_name_cannot_be_taken_twice():
    registry: Registry = Registry("thing", "thbench.test_things", "model_adapters")
    registry.add("one", type("A", (Base,), {}))
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("one", type("B", (Base,), {}))


def test_entry_points_add_third_party_plugins(monkeypatch):
    """A package that is not thbench declares ``[project.entry-points."thbench.adapters"]``."""
    module = types.ModuleType("third_party_plugin")

    class ThirdParty(Base):
        pass

    module.ThirdParty = ThirdParty
    monkeypatch.setitem(sys.modules, "third_party_plugin", module)
    entry_point = importlib.metadata.EntryPoint(name="third-party", value="third_party_plugin:ThirdParty", group="thbench.test_things")
    original = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata, "entry_points",
        lambda group=None, **kw: [entry_point] if group == "thbench.test_things" else original(group=group, **kw),
    )
    registry: Registry = Registry("thing", "thbench.test_things", "model_adapters")
    assert registry.get("third-party") is ThirdParty

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from bench.options import OptionError, build_options, parse_key_values


@dataclass(frozen=True)
class Example:
    steps: int = 30
    scale: float = 7.5
    greedy: bool = True
    mode: Literal["gen", "edit"] = "gen"
    folder: Path | None = None
    name: str = ""


def test_parse_key_values():
    assert parse_key_values("a=1, b = x=y ,c=") == {"a": "1", "b": "x=y", "c": ""}
    assert parse_key_values("") == {}
    with pytest.raises(OptionError, match="key=value"):
        parse_key_values("a=1,oops")


def test_build_options_converts_by_annotation():
    options = build_options(Example, {"steps": "50", "scale": "2", "greedy": "no", "mode": "edit", "folder": "~/w", "name": "n"}, "model 'x'")
    assert options == Example(50, 2.0, False, "edit", Path("~/w").expanduser(), "n")
    assert build_options(Example, {"folder": "none"}, "x").folder is None


@pytest.mark.parametrize(
    "values, message",
    [
        ({"stepz": "1"}, "no option 'stepz'; its options: folder, greedy, mode, name, scale, steps"),
        ({"steps": "many"}, "option 'steps' expects int, got 'many'"),
        ({"greedy": "maybe"}, "option 'greedy' expects bool"),
        ({"mode": "paint"}, "must be one of gen, edit"),
    ],
)
def test_build_options_explains_mistakes(values, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(")):
        build_options(Example, values, "model 'x'")


def test_option_roles_declared_on_fields_join_the_task_lists():
    import dataclasses

    from bench.options import option
    from bench.task import Task

    @dataclasses.dataclass(frozen=True)
    class RoleOptions:
        data_dir: str = ""
        parser: str = option("strict", role="scoring")
        subset: str = option("all", role="location")

    class Roles(Task):
        Options = RoleOptions

    assert Roles.scoring_options == ("parser",)
    assert Roles.location_options == ("data_dir", "subset")


def test_a_role_list_naming_no_option_fails_when_the_task_is_defined():
    import dataclasses

    import pytest

    from bench.task import Task

    @dataclasses.dataclass(frozen=True)
    class MatchOptions:
        match: str = "box"

    with pytest.raises(TypeError, match="'mach'.*not an option of MatchOptions"):
        class Misspelt(Task):  # noqa: F841
            Options = MatchOptions
            scoring_options = ("mach",)

"""The text layout of a TextDiffuser-2 prompt: lines ``keyword l,t,r,b`` on a 128 x 128 grid,
written by the layout planner or derived from a request's polygons.

The planner is asked with the release's own words (``inference_textdiffuser2_t2i_full.py``),
wrapped in the chat template the release gets from FastChat for the planner's folder: no
FastChat adapter matches ``textdiffuser2_layout_planner``, so FastChat falls back to its
one-shot template, whose worked example (a birthday-party answer) is part of every prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from bench.types import Polygon, polygon_bounds

#: Side of the grid the planner plans on; coordinates are cells of it.
GRID = 128

PLANNER_INSTRUCTION = (
    "Given a prompt that will be used to generate an image, plan the layout of visual text for the image. "
    "The size of the image is 128x128. Therefore, all properties of the positions should not exceed 128, "
    "including the coordinates of top, left, right, and bottom. All keywords are included in the caption. "
    "You dont need to specify the details of font styles. At each line, the format should be keyword left, "
    "top, right, bottom. So let us begin. Prompt: {caption}"
)

# FastChat's "one_shot" conversation template (fschat 0.2.26, the version the release pins).
_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
_ROLES = ("Human", "Assistant")
_SEPARATOR = "\n### "
_EXAMPLE = (
    "Got any creative ideas for a 10 year old’s birthday?",
    "Of course! Here are some creative ideas for a 10-year-old's birthday party:\n"
    "1. Treasure Hunt: Organize a treasure hunt in your backyard or nearby park. Create clues and riddles for the kids "
    "to solve, leading them to hidden treasures and surprises.\n"
    "2. Science Party: Plan a science-themed party where kids can engage in fun and interactive experiments. You can "
    "set up different stations with activities like making slime, erupting volcanoes, or creating simple chemical "
    "reactions.\n"
    "3. Outdoor Movie Night: Set up a backyard movie night with a projector and a large screen or white sheet. Create "
    "a cozy seating area with blankets and pillows, and serve popcorn and snacks while the kids enjoy a favorite movie "
    "under the stars.\n"
    "4. DIY Crafts Party: Arrange a craft party where kids can unleash their creativity. Provide a variety of craft "
    "supplies like beads, paints, and fabrics, and let them create their own unique masterpieces to take home as party "
    "favors.\n"
    "5. Sports Olympics: Host a mini Olympics event with various sports and games. Set up different stations for "
    "activities like sack races, relay races, basketball shooting, and obstacle courses. Give out medals or "
    "certificates to the participants.\n"
    "6. Cooking Party: Have a cooking-themed party where the kids can prepare their own mini pizzas, cupcakes, or "
    "cookies. Provide toppings, frosting, and decorating supplies, and let them get hands-on in the kitchen.\n"
    "7. Superhero Training Camp: Create a superhero-themed party where the kids can engage in fun training "
    "activities. Set up an obstacle course, have them design their own superhero capes or masks, and organize "
    "superhero-themed games and challenges.\n"
    "8. Outdoor Adventure: Plan an outdoor adventure party at a local park or nature reserve. Arrange activities like "
    "hiking, nature scavenger hunts, or a picnic with games. Encourage exploration and appreciation for the outdoors.\n"
    "Remember to tailor the activities to the birthday child's interests and preferences. Have a great celebration!",
)


@dataclass(frozen=True)
class LayoutLine:
    """One text to write and its box on the 128 grid (left, top, right, bottom)."""

    text: str
    box: tuple[int, int, int, int]


def planner_prompt(caption: str) -> str:
    """The full prompt the planner continues: system line, worked example, the instruction."""
    turns = [(_ROLES[0], _EXAMPLE[0]), (_ROLES[1], _EXAMPLE[1]), (_ROLES[0], PLANNER_INSTRUCTION.format(caption=caption))]
    prompt = _SYSTEM + _SEPARATOR
    for role, message in turns:
        prompt += f"{role}: {message}{_SEPARATOR}"
    return prompt + f"{_ROLES[1]}:"


def parse_layout(text: str) -> list[LayoutLine]:
    """The lines of a planner answer the release would use: blank lines and lines holding
    ``###`` or ``.com`` are skipped, as the release skips them; the last space-separated item
    is the box. A line the release could not parse (no four integers after the keyword) would
    stop the release with an exception; here it is left out, so that one odd plan costs a line
    of text, not the sample."""
    lines = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or "###" in line or ".com" in line:
            continue
        items = line.split()
        parts = items[-1].split(",")
        if len(parts) != 4:
            continue
        try:
            box = tuple(int(part) for part in parts)
        except ValueError:
            continue
        lines.append(LayoutLine(" ".join(items[:-1]), box))  # type: ignore[arg-type]
    return lines


def layout_from_polygons(texts: Sequence[str], polygons: Sequence[Polygon], size: tuple[int, int]) -> list[LayoutLine]:
    """Given positions as planner lines: each polygon's bounding box on the 128 grid (pixel
    coordinates floor-divided by the cell size, as the release's demo maps clicked pixels),
    kept within the grid."""
    if len(texts) != len(polygons):
        raise ValueError(f"{len(texts)} texts for {len(polygons)} positions")
    width, height = size
    lines = []
    for text, polygon in zip(texts, polygons):
        left, top, right, bottom = polygon_bounds(polygon)
        box = (_cell(left, width), _cell(top, height), _cell(right, width), _cell(bottom, height))
        lines.append(LayoutLine(text, box))
    return lines


def _cell(value: float, extent: int) -> int:
    return min(GRID, max(0, int(value * GRID // extent)))

"""Reading JSON Lines files written by people or other tools, with errors that point at the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


def iter_json_lines(path: Path, error: type[Exception] = ValueError, expected: str = "") -> Iterator[tuple[int, Any]]:
    """(line number, value) for every non-blank line; a line that is not JSON raises ``error``
    naming the file, the line and, when given, the ``expected`` layout."""
    hint = f"; expected {expected}" if expected else ""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as problem:
                raise error(f"{path}:{number} is not JSON ({problem}){hint}") from None
            except RecursionError:
                raise error(f"{path}:{number} nests its values too deeply to be read{hint}") from None
            except UnicodeDecodeError as problem:
                raise error(f"{path}:{number} is not UTF-8 text ({problem}){hint}") from None

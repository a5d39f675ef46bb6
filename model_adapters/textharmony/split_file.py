"""A read-only, seekable file over parts that together form one file.

The release publishes its 60 GB checkpoint as ``pytorch_model.binaa``, ``.binab``, ... to be
concatenated. ``SplitFile`` reads them in sequence as if they were concatenated, so neither a
second copy on disk nor a concatenation step is needed; ``torch.load`` and ``zipfile`` accept it
like any binary file.
"""

from __future__ import annotations

import bisect
import io
import os
from pathlib import Path
from typing import BinaryIO, Sequence


def find_parts(path: "str | Path") -> list[Path]:
    """``dir/name.bin`` -> the existing ``dir/name.binaa``, ``.binab``, ... in order (may be empty)."""
    path = Path(path)
    return sorted(p for p in path.parent.glob(path.name + "??") if p.name[-2:].isalpha() and p.name[-2:].islower())


class SplitFile(io.RawIOBase):
    def __init__(self, parts: Sequence["str | Path"]) -> None:
        super().__init__()
        if not parts:
            raise ValueError("SplitFile needs at least one part")
        self.parts = [Path(p) for p in parts]
        for part in self.parts:
            if not part.is_file():
                raise FileNotFoundError(f"checkpoint part {part} does not exist")
        sizes = [p.stat().st_size for p in self.parts]
        self._starts = [0]
        for size in sizes:
            self._starts.append(self._starts[-1] + size)
        self._handles: list[BinaryIO | None] = [None] * len(self.parts)
        self._position = 0

    @property
    def size(self) -> int:
        return self._starts[-1]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._position = target
        return target

    def _handle(self, index: int) -> BinaryIO:
        handle = self._handles[index]
        if handle is None:
            handle = self._handles[index] = open(self.parts[index], "rb", buffering=0)
        return handle

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._position < self.size:
            index = bisect.bisect_right(self._starts, self._position) - 1
            handle = self._handle(index)
            inner = self._position - self._starts[index]
            wanted = min(len(view) - done, self._starts[index + 1] - self._position)
            got = os.preadv(handle.fileno(), [view[done : done + wanted]], inner)
            if got == 0:
                raise IOError(f"{self.parts[index]} ended early (was it modified while reading?)")
            done += got
            self._position += got
        return done

    def close(self) -> None:
        for handle in self._handles:
            if handle is not None:
                handle.close()
        self._handles = [None] * len(self.parts)
        super().close()

"""Failures of the machine or of the harness, as opposed to failures of one sample.

A full disk, an I/O error or a read-only filesystem says nothing about the model: recording it as
a sample's error would score that sample as a miss forever (the next run reuses the record).
Such errors stop the run instead, record nothing, and leave the folder resumable.
"""

from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: errno values that mean the storage, not the sample, is at fault.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT})

#: Exit code of a run stopped by a harness fault (1 is a regression, 2 a usage error, 75 a
#: folder in use, 130/143 an interruption).
FAULT_EXIT_CODE = 4


class HarnessFault(RuntimeError):
    """The run cannot go on for a reason outside the model; nothing was recorded for the batch
    in flight, and the same command resumes once the cause is fixed."""


def is_storage_fault(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


def fault_from(error: BaseException, where: Path | str) -> HarnessFault | None:
    """The fault that ``error`` amounts to, or ``None`` when it is an ordinary error."""
    if is_storage_fault(error):
        assert isinstance(error, OSError)
        return HarnessFault(
            f"storage failure writing or reading {where}: {error.strerror or error} (errno {errno.errorcode.get(error.errno or 0, error.errno)}); "
            "nothing was recorded for the batch in flight; free space or fix the filesystem, then run the same command again to resume"
        )
    if isinstance(error, MemoryError):
        return HarnessFault(
            f"out of memory in the harness while handling {where}; nothing was recorded for the batch in flight; "
            "run the same command again (with a smaller --batch-size) to resume"
        )
    return None


@contextmanager
def storage(where: Path | str) -> Iterator[None]:
    """Turn storage errors and harness out-of-memory inside the block into a ``HarnessFault``."""
    try:
        yield
    except (OSError, MemoryError) as error:
        fault = fault_from(error, where)
        if fault is None:
            raise
        raise fault from error

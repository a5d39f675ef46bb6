"""The run manifest as the merge of every invocation's own record.

Each invocation writes only ``invocations/<its id>.json``, so concurrent writers never overwrite
each other and nothing an earlier invocation recorded is lost; ``manifest.json`` is rebuilt
from all of them (plus the single manifest of folders written before invocation records) and is
a view, not a source.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Sequence

from bench.records import RECORD_FORMAT

#: Invocation id under which a folder's pre-invocation manifest is kept.
LEGACY_INVOCATION = "legacy"


def legacy_invocation(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest written before invocation records, as one invocation record."""
    entry = dict(manifest)
    entry["invocation"] = LEGACY_INVOCATION
    entry.pop("history", None)
    return entry


def merged_manifest(run_id: str, invocations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The latest facts at the top level (what old readers look for), every task entry of every
    invocation under ``tasks`` (latest per task) and ``history`` (all, oldest first)."""
    if not invocations:
        return {}
    latest = invocations[-1]
    tasks: dict[str, Any] = {}
    for invocation in invocations:
        tasks.update(invocation.get("tasks") or {})
    runtime = next((i["adapter"]["runtime"] for i in reversed(invocations) if (i.get("adapter") or {}).get("runtime")), None)
    adapter = dict(latest.get("adapter") or {})
    if runtime is not None:
        adapter["runtime"] = runtime
    return {
        "format": f"{RECORD_FORMAT[0]}.{RECORD_FORMAT[1]}",
        "run_id": run_id,
        "status": latest.get("status"),
        "started_at": invocations[0].get("started_at"),
        "finished_at": latest.get("finished_at"),
        "environment": latest.get("environment"),
        "adapter": adapter,
        "seed": latest.get("seed"),
        "batch_size": latest.get("batch_size"),
        "limit": latest.get("limit"),
        "image_format": latest.get("image_format"),
        "data_root": latest.get("data_root"),
        "tasks": tasks,
        "history": [_history_entry(invocation) for invocation in invocations],
    }


def _status(invocation: dict[str, Any]) -> Any:
    """``running`` as recorded, unless the process is known to be gone: an invocation killed
    without a word (SIGKILL, a lost node) never wrote its final status."""
    status = invocation.get("status")
    if status == "running" and invocation.get("host") == socket.gethostname() and isinstance(invocation.get("pid"), int):
        try:
            os.kill(invocation["pid"], 0)
        except ProcessLookupError:
            return "died"
        except PermissionError:
            pass
    return status


def _history_entry(invocation: dict[str, Any]) -> dict[str, Any]:
    return {
        "invocation": invocation.get("invocation"),
        "command": invocation.get("command"),
        "host": invocation.get("host"),
        "pid": invocation.get("pid"),
        "user": invocation.get("user"),
        "started_at": invocation.get("started_at"),
        "finished_at": invocation.get("finished_at"),
        "status": _status(invocation),
        "data_root": invocation.get("data_root"),
        "limit": invocation.get("limit"),
        "tasks": {name: entry.get("counts") for name, entry in (invocation.get("tasks") or {}).items()},
    }

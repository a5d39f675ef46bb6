"""Task configurations of one run folder, kept apart and named so that no table mixes them.

A configuration is a task with the options that change how its samples are asked, a dataset (by
content fingerprint) and a sample selection (``--limit``). Scores are only ever computed from
the records of one configuration; a folder that holds several shows each under its own label,
the task name followed by what sets it apart from the others: ``grounding[limit=1]``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from bench.fingerprint import stable_hash


def configuration_id(task: str, identity_options: Mapping[str, Any], dataset_fingerprint: str | None, limit: int | None) -> str:
    return stable_hash([task, dict(identity_options), dataset_fingerprint, limit], length=12)


def configuration_labels(configurations: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Label of each configuration id: the task name alone when the folder has one
    configuration of that task, else the task name with the fields that differ."""
    by_task: dict[str, list[str]] = {}
    for config_id, entry in configurations.items():
        by_task.setdefault(str(entry["task"]), []).append(config_id)
    labels: dict[str, str] = {}
    for task, ids in by_task.items():
        if len(ids) == 1:
            labels[ids[0]] = task
            continue
        facets = {config_id: _facets(configurations[config_id]) for config_id in ids}
        differing = [name for name in _names(facets.values()) if len({repr(f.get(name)) for f in facets.values()}) > 1]
        for config_id in ids:
            parts = [f"{name}={_short(facets[config_id].get(name))}" for name in differing] or [config_id]
            labels[config_id] = f"{task}[{','.join(parts)}]"
    # Shortened values can still meet: then the configuration id tells them apart.
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {cid: label if counts[label] == 1 else f"{label[:-1]},#{cid[:6]}]" for cid, label in labels.items()}


def _facets(entry: Mapping[str, Any]) -> dict[str, Any]:
    facets = dict(entry.get("identity_options") or {})
    facets["data"] = entry.get("dataset_fingerprint")
    facets["limit"] = entry.get("limit")
    return facets


def _names(facets: Iterable[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for facet in facets:
        names.update(dict.fromkeys(facet))
    return list(names)


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 24 else f"{text[:8]}~{stable_hash(text, length=4)}"

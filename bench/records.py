"""One stored answer to one sample: the line format of a run's record files.

Records are read far more often than written (every resume reads all of them), and a record
written by a newer thbench may carry fields this version does not know: those are kept in
``extra`` and written back unchanged, so that no rewrite ever loses what another version
recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: Version of the record line format. A newer minor version only adds fields (kept through
#: ``extra``); a newer major version means this thbench cannot read the folder correctly.
RECORD_FORMAT = (2, 1)
#: The scoring fingerprint of a record written when its output was stored, before its scores
#: arrived; no task's scoring has it, so a resumed run scores the stored output again.
UNSCORED = "unscored"


@dataclass
class SampleError:
    type: str
    message: str
    #: Where it happened: ``input`` (unreadable image), ``model`` or ``score``.
    stage: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "stage": self.stage}


@dataclass
class PredictionRecord:
    key: str
    id: str
    request_fingerprint: str
    scoring_fingerprint: str
    seed: int
    prompt: str
    raw: str | None = None
    images: list[str] = field(default_factory=list)
    parsed: Any = None
    scores: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: SampleError | None = None
    elapsed_s: float = 0.0
    #: Why the model replaced its output (a safety checker's black image), else None.
    refused: str | None = None
    #: Revision within the record's slot (sample key + request fingerprint): a record that
    #: replaces another (rescored, retried) has a higher one. With ``writer`` it orders records
    #: without relying on file order or on clocks.
    rev: int = 0
    #: The writing process's identity; breaks ties between equal revisions deterministically.
    writer: str = ""
    #: Fields written by another thbench version that this one does not know; kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def slot(self) -> tuple[str, str]:
        """Records of one slot answer the same request; only the newest of them counts."""
        return (self.key, self.request_fingerprint)

    @property
    def order(self) -> tuple[int, bool, str]:
        """Newer revisions first; within one, a scored record over the unscored one it completes."""
        return (self.rev, self.scoring_fingerprint != UNSCORED, self.writer)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update(
            key=self.key, id=self.id, request_fingerprint=self.request_fingerprint,
            scoring_fingerprint=self.scoring_fingerprint, seed=self.seed, prompt=self.prompt,
            raw=self.raw, images=self.images, parsed=self.parsed, scores=self.scores,
            details=self.details, error=None if self.error is None else self.error.to_dict(),
            elapsed_s=self.elapsed_s, rev=self.rev, writer=self.writer,
        )
        if self.refused is not None:
            data["refused"] = self.refused
        return data

    def to_json(self) -> str:
        return _ENCODE(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PredictionRecord":
        """Build from a parsed line; raises ``KeyError``/``TypeError`` when a required field is
        missing or malformed (the line is then unreadable, not silently half-read)."""
        error = data.get("error")
        extra = {name: value for name, value in data.items() if name not in _KNOWN_FIELDS}
        return cls(
            key=data["key"], id=data["id"], request_fingerprint=data["request_fingerprint"],
            scoring_fingerprint=data["scoring_fingerprint"], seed=data["seed"], prompt=data["prompt"],
            raw=data.get("raw"), images=data.get("images") or [], parsed=data.get("parsed"),
            scores=data.get("scores") or {}, details=data.get("details") or {},
            error=None if error is None else SampleError(str(error["type"]), str(error["message"]), str(error["stage"])),
            elapsed_s=data.get("elapsed_s", 0.0), refused=data.get("refused"), rev=int(data.get("rev", 0)), writer=str(data.get("writer", "")),
            extra=extra,
        )


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a prediction record")


#: Built once: ``json.dumps`` with options builds a new encoder on every call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode

_KNOWN_FIELDS = frozenset(
    ("key", "id", "request_fingerprint", "scoring_fingerprint", "seed", "prompt", "raw", "images", "parsed",
     "scores", "details", "error", "elapsed_s", "refused", "rev", "writer")
)


def unscored(record: PredictionRecord) -> PredictionRecord:
    """The record of a stored output whose scores are still being computed."""
    return replace(record, scoring_fingerprint=UNSCORED, parsed=None, scores={}, details={}, extra=dict(record.extra))

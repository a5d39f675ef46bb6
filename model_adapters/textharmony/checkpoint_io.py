"""Reading tensors one at a time from PyTorch and safetensors checkpoints.

``torch.load`` returns the whole state dict at once, which for the release means 60 GB of host
memory next to the model being filled. The readers here list a checkpoint's tensors (name,
dtype, shape) from its metadata alone and read each tensor's bytes only when asked, straight
into a fresh buffer; a loader can then place every tensor in the model and drop it before
reading the next.

* PyTorch's zip format (``torch.save`` since 1.6): ``data.pkl`` is unpickled with an unpickler
  that only knows state-dict building blocks and turns storages into references; each
  storage is an uncompressed zip member read at its offset.
* safetensors: a JSON header then raw little-endian data.

Both work on a path or on any seekable binary file (such as ``SplitFile``).
"""

from __future__ import annotations

import collections
import json
import pickle
import struct
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

import torch

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}

SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


@dataclass(frozen=True)
class TensorRecord:
    """A tensor in a checkpoint, not yet read."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    read: Callable[[], torch.Tensor]


def _read_exact(file: BinaryIO, offset: int, tensor: torch.Tensor) -> torch.Tensor:
    """Fill a contiguous tensor with the bytes at ``offset``, without an intermediate copy."""
    view = memoryview(tensor.view(-1).view(torch.uint8).numpy())
    file.seek(offset)
    done = 0
    while done < len(view):
        got = file.readinto(view[done:])
        if not got:
            raise IOError(f"checkpoint ended {len(view) - done} bytes early")
        done += got
    return tensor


# ---------------------------------------------------------------- PyTorch zip format


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: torch.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *unused):
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a state dict, refusing any global a state dict does not need."""

    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("_codecs", "encode"): lambda text, encoding="latin1": text.encode(encoding),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(
            f"the checkpoint references {module}.{name}, which a plain state dict does not contain; "
            "refusing to load it (open it with torch.load(weights_only=False) if you trust it)"
        )

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return _StorageRef(str(key), dtype, int(numel))


def _zip_member_offset(file: BinaryIO, info: zipfile.ZipInfo) -> int:
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"zip member {info.filename} is compressed; torch.save never does that")
    file.seek(info.header_offset)
    header = file.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def torch_zip_records(file: BinaryIO, source: str) -> list[TensorRecord]:
    """The tensors of a ``torch.save`` zip file, readable one by one."""
    archive = zipfile.ZipFile(file)
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
    if len(pickles) != 1:
        raise ValueError(f"{source} is a zip file but not a torch.save checkpoint (no single data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    state = _StateDictUnpickler(archive.open(pickles[0])).load()
    if not isinstance(state, dict):
        raise ValueError(f"{source} holds a {type(state).__name__}, not a state dict")
    offsets: dict[str, int] = {}

    def reader(ref: _TensorRef) -> Callable[[], torch.Tensor]:
        def read() -> torch.Tensor:
            storage = ref.storage
            if storage.key not in offsets:
                info = archive.getinfo(f"{prefix}data/{storage.key}")
                offsets[storage.key] = _zip_member_offset(file, info)
            buffer = _read_exact(file, offsets[storage.key], torch.empty(storage.numel, dtype=storage.dtype))
            tensor = buffer.as_strided(ref.shape, ref.stride, ref.offset)
            whole = ref.offset == 0 and tensor.is_contiguous() and tensor.numel() == storage.numel
            return tensor if whole else tensor.clone()

        return read

    records = []
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            raise ValueError(f"{source}: entry {name!r} is not a tensor")
        records.append(TensorRecord(name, ref.storage.dtype, ref.shape, reader(ref)))
    return records


# ---------------------------------------------------------------- safetensors


def safetensors_records(file: BinaryIO, source: str) -> list[TensorRecord]:
    file.seek(0)
    (header_len,) = struct.unpack("<Q", file.read(8))
    header = json.loads(file.read(header_len))
    data_start = 8 + header_len
    records = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{source}: tensor {name!r} has unsupported dtype {entry['dtype']}")
        shape = tuple(entry["shape"])
        start = data_start + entry["data_offsets"][0]

        def read(shape=shape, dtype=dtype, start=start) -> torch.Tensor:
            return _read_exact(file, start, torch.empty(shape, dtype=dtype))

        records.append(TensorRecord(name, dtype, shape, read))
    return records


def file_records(file: BinaryIO, source: str) -> list[TensorRecord]:
    """Records of one checkpoint file, whichever of the two formats it is in."""
    file.seek(0)
    magic = file.read(4)
    if magic == b"PK\x03\x04":
        return torch_zip_records(file, source)
    file.seek(0)
    head = file.read(8)
    header_len = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
    if 2 <= header_len < 100_000_000 and file.read(1) == b"{":
        return safetensors_records(file, source)
    raise ValueError(
        f"{source} is neither a torch.save zip checkpoint nor a safetensors file "
        "(legacy pre-1.6 torch.save files are not supported: re-save them with a current PyTorch)"
    )


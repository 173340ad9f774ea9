"""Decoding of MINDIR protobuf pieces (tensors, attributes, dtypes) into numpy / Python values."""
import os
import stat
from typing import Any, Optional

import numpy as np

from .errors import ConversionError

# mind_ir.proto TensorProto.DataType -> numpy
TENSOR_DTYPES = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
    9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64, 17: np.float64,
}
TENSOR_DTYPE_NAMES = {8: "string", 14: "complex64", 15: "complex128", 16: "bfloat16",
                      18: "qint4x2"}

# MindSpore TypeId (how PRIMITIVE_FUNCTION ops such as Cast receive a dtype) -> numpy
TYPE_IDS = {30: np.bool_, 32: np.int8, 33: np.int16, 34: np.int32, 35: np.int64, 37: np.uint8,
            38: np.uint16, 39: np.uint32, 40: np.uint64, 42: np.float16, 43: np.float32,
            44: np.float64}


class Monad:
    """UMonad / IOMonad: side-effect ordering tokens, meaningless for inference."""

    def __repr__(self):
        return "MONAD"


MONAD = Monad()

# AttributeProto.AttributeType numbers used below
_FLOAT, _UINT8, _INT8, _UINT16, _INT16, _INT32, _INT64, _STRING, _BOOL, _FLOAT16, _DOUBLE = \
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
_UINT32, _UINT64 = 12, 13
_TENSOR, _TENSORS, _TUPLE, _LIST, _UMONAD, _IOMONAD, _NONE = 17, 19, 20, 21, 23, 24, 25
_SCALAR, _TYPE_NULL = 39, 36
_INT_TYPES = {_UINT8, _INT8, _UINT16, _INT16, _INT32, _INT64, _UINT32, _UINT64}


def np_dtype(data_type: int) -> np.dtype:
    if data_type in TENSOR_DTYPES:
        return np.dtype(TENSOR_DTYPES[data_type])
    name = TENSOR_DTYPE_NAMES.get(data_type, f"data type {data_type}")
    raise ConversionError(f"tensors of type {name} are not supported")


# Upper bound on the elements of one tensor whose bytes the file itself does not carry
# (external data is checked against the real file; a shape alone must not allocate gigabytes).
MAX_ELEMENTS = 1 << 34


def _element_count(t, shape) -> int:
    # Python ints: a mutated shape must not overflow int64 into a small or negative count
    count = 1
    for d in shape:
        count *= d
    if count > MAX_ELEMENTS:
        raise ConversionError(f"tensor '{t.name}' declares {count} elements (shape {shape})")
    return count


def tensor_to_numpy(t, base_dir: Optional[str] = None) -> np.ndarray:
    """A TensorProto's data as a numpy array of its declared shape.

    Sizes are checked against the bytes actually present before anything is allocated.
    """
    dtype = np_dtype(t.data_type)
    shape = tuple(int(d) for d in t.dims)
    if any(d < 0 for d in shape):
        raise ConversionError(f"constant tensor '{t.name}' has a symbolic shape {shape}")
    count = _element_count(t, shape)
    nbytes = count * dtype.itemsize
    if t.raw_data:
        raw = t.raw_data
    elif t.HasField("external_data") and t.external_data.location:
        raw = read_external(t, base_dir, nbytes)
    else:
        for field in ("float_data", "int64_data", "int32_data", "double_data"):
            values = getattr(t, field)
            if values:
                if len(values) != count:
                    raise ConversionError(f"tensor '{t.name}' holds {len(values)} values, "
                                          f"shape {shape} needs {count}")
                return np.asarray(values, dtype=dtype).reshape(shape)
        if count == 0:
            return np.zeros(shape, dtype)
        raise ConversionError(f"tensor '{t.name}' carries no data")
    if len(raw) != nbytes:
        raise ConversionError(f"tensor '{t.name}' holds {len(raw)} bytes, shape {shape} of "
                              f"{dtype} needs {nbytes}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def external_path(location: str, base_dir: Optional[str], what: str) -> str:
    """The file an external-data `location` names, refused unless it is a relative path that
    resolves (symlinks followed) inside the MINDIR's own directory."""
    if not location or "\x00" in location:
        raise ConversionError(f"{what}: empty or invalid external data location")
    if os.path.isabs(location) or location.startswith(("/", "\\")) or \
            (len(location) > 1 and location[1] == ":"):
        raise ConversionError(f"{what}: external data location '{location}' is absolute; "
                              "it must be relative to the MINDIR's directory")
    base = os.path.realpath(base_dir or ".")
    path = os.path.realpath(os.path.join(base, location))
    if os.path.commonpath([base, path]) != base or path == base:
        raise ConversionError(f"{what}: external data location '{location}' points outside "
                              f"the MINDIR's directory {base}")
    return path


def read_external(t, base_dir, nbytes: int) -> bytes:
    """`nbytes` of external data for tensor `t`, read only from a regular file inside
    `base_dir` and only when the file really holds them (no FIFO, device or symlink escape;
    O_NONBLOCK so that opening a FIFO cannot hang before the type check)."""
    ext = t.external_data
    what = f"tensor '{t.name}'"
    path = external_path(ext.location, base_dir, what)
    offset, length = int(ext.offset), int(ext.length)
    if offset < 0 or length < 0:
        raise ConversionError(f"{what}: negative external data offset/length")
    if length and length != nbytes:
        raise ConversionError(f"{what}: external data length {length} does not match its "
                              f"shape ({nbytes} bytes)")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConversionError(f"cannot read external data of {what} from {path}: "
                              f"{exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConversionError(f"{what}: external data {path} is not a regular file")
        if offset + nbytes > st.st_size:
            raise ConversionError(f"{what}: external data needs bytes {offset}..{offset + nbytes}"
                                  f" of {path}, which has {st.st_size}")
        os.lseek(fd, offset, os.SEEK_SET)
        chunks, left = [], nbytes
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise ConversionError(f"cannot read external data of {what} from {path}: "
                              f"{exc.strerror}") from exc
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) != nbytes:
        raise ConversionError(f"{what}: external data {path} ended after {len(raw)} of "
                              f"{nbytes} bytes")
    return raw


def tensor_info(t):
    """(numpy dtype or None, shape with None for symbolic dims) of a TensorProto; the shape is
    None for MindSpore's unknown-rank marker [-2] (kShapeRankAny)."""
    dtype = np.dtype(TENSOR_DTYPES[t.data_type]) if t.data_type in TENSOR_DTYPES else None
    if list(t.dims) == [-2]:
        return dtype, None
    return dtype, tuple(None if d < 0 else int(d) for d in t.dims)


def decode_attribute(a, base_dir=None) -> Any:
    """An AttributeProto as a Python value: scalars, str, tuples, numpy arrays, None, MONAD."""
    t = a.type
    # Tuple elements keep their scalar in the repeated field (ints/floats/...), top-level
    # attributes in the singular one.
    if t == _BOOL:
        return bool(a.ints[0] if a.ints else a.i)
    if t in _INT_TYPES:
        return int(a.ints[0] if a.ints else a.i)
    if t in (_FLOAT, _FLOAT16):
        return float(a.floats[0] if a.floats else a.f)
    if t == _DOUBLE:
        return float(a.doubles[0] if a.doubles else a.d)
    if t == _STRING:
        return (a.strings[0] if a.strings else a.s).decode("utf-8", "replace")
    if t in (_TENSORS, _TENSOR):
        tensors = list(a.tensors) or ([a.t] if a.HasField("t") else [])
        if len(tensors) != 1:
            raise ConversionError(f"attribute '{a.name}' holds {len(tensors)} tensors")
        return tensor_to_numpy(tensors[0], base_dir)
    if t in (_TUPLE, _LIST):
        if a.values:
            return tuple(decode_attribute(v, base_dir) for v in a.values)
        # older writers keep homogeneous sequences in the repeated fields
        return tuple(a.ints) or tuple(a.floats) or tuple(s.decode() for s in a.strings) or ()
    if t in (_UMONAD, _IOMONAD):
        return MONAD
    if t in (_NONE, _TYPE_NULL):
        return None
    if t == _SCALAR:
        return decode_scalar_tensor(a)
    names = {v: k for k, v in type(a).AttributeType.items()}
    raise ConversionError(f"attribute '{a.name}' of kind {names.get(t, t)} is not supported")


def decode_scalar_tensor(a):
    if a.tensors and (a.tensors[0].raw_data or a.tensors[0].int64_data or a.tensors[0].float_data):
        return tensor_to_numpy(a.tensors[0]).item()
    if a.ints:
        return int(a.ints[0])
    if a.floats:
        return float(a.floats[0])
    return int(a.i)

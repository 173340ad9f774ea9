"""Decoding of MINDIR protobuf pieces (tensors, attributes, dtypes) into numpy / Python values."""
import os
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


def tensor_to_numpy(t, base_dir: Optional[str] = None) -> np.ndarray:
    """A TensorProto's data as a numpy array of its declared shape."""
    dtype = np_dtype(t.data_type)
    shape = tuple(int(d) for d in t.dims)
    if any(d < 0 for d in shape):
        raise ConversionError(f"constant tensor '{t.name}' has a symbolic shape {shape}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if t.raw_data:
        raw = t.raw_data
    elif t.HasField("external_data") and t.external_data.location:
        raw = _read_external(t, base_dir, count * dtype.itemsize)
    elif t.float_data:
        return np.asarray(t.float_data, dtype=dtype).reshape(shape)
    elif t.int64_data:
        return np.asarray(t.int64_data, dtype=dtype).reshape(shape)
    elif t.int32_data:
        return np.asarray(t.int32_data, dtype=dtype).reshape(shape)
    elif t.double_data:
        return np.asarray(t.double_data, dtype=dtype).reshape(shape)
    elif count == 0:
        return np.zeros(shape, dtype)
    else:
        raise ConversionError(f"tensor '{t.name}' carries no data")
    if len(raw) != count * dtype.itemsize:
        raise ConversionError(f"tensor '{t.name}' holds {len(raw)} bytes, shape {shape} of "
                              f"{dtype} needs {count * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _read_external(t, base_dir, nbytes) -> bytes:
    ext = t.external_data
    path = os.path.join(base_dir or ".", ext.location)
    try:
        with open(path, "rb") as f:
            f.seek(int(ext.offset))
            raw = f.read(int(ext.length) or nbytes)
    except OSError as exc:
        raise ConversionError(f"cannot read external data of '{t.name}' from {path}: "
                              f"{exc.strerror}") from None
    return raw


def tensor_info(t):
    """(numpy dtype or None, shape with None for symbolic dims) of a TensorProto."""
    dtype = np.dtype(TENSOR_DTYPES[t.data_type]) if t.data_type in TENSOR_DTYPES else None
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

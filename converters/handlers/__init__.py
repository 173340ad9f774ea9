"""Op handlers, one module per family; importing this package registers them all."""
from . import (activations, elementwise, matmul, nn, normalization, pooling, reduce,  # noqa
               resize, tensor_ops)
from .registry import MAX_OPSET, MIN_OPSET, lookup, op, supported_ops, unregistered  # noqa

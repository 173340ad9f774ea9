"""Op handlers, one module per family; importing this package registers them all."""
from . import (activations, elementwise, indexing, math_ops, matmul, nn, normalization,  # noqa
               pooling, reduce, resize, rnn, tensor_ops)
from .registry import MAX_OPSET, MIN_OPSET, lookup, op, supported_ops, unregistered  # noqa

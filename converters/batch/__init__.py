"""The --dynamic_batch analysis: which axis of each tensor carries the batch, proven node by
node, and the rewrites that keep a static export's batch size out of the graph.

`analysis.make_batch_dynamic` walks a static IR graph and tracks, per tensor, the axis that
carries the batch as a factor of that dimension: a tensor of shape (..., m*B*q, ...) whose
index along that axis is ``(o * B + sample) * q + inner``, mostly with outer factor m = 1. Each primitive's handler
declares its rule (``@op(..., batch=RULE)``): the generic ones are in `rules`, an operator's own
next to its handler; `state` has what they share. Handlers import this package as ``B``.
"""
from .analysis import make_batch_dynamic
from .rules import (ELEMENTWISE, PER_SAMPLE, SAME_AXIS, along, along_axis, along_output_axis,
                    Reseed, repeated_over_batch,
                    broadcast_axis, channel_op, describe, elementwise, normalize_from,
                    per_sample, reduce, refuse, same_axis)
from .state import (BatchState, Refuse, Rewrites, Rule, apply_rewrites, arg, batch_node,
                    common_outer, first_carrier, ints, is_sample_index, keeps_outer, prod,
                    rank_of, repeat_over_batch, set_outputs, static_shape, where)

__all__ = ["make_batch_dynamic", "ELEMENTWISE", "PER_SAMPLE", "SAME_AXIS", "along",
           "along_axis", "along_output_axis",
           "Reseed", "repeated_over_batch", "broadcast_axis", "channel_op", "describe", "elementwise",
           "normalize_from", "per_sample", "reduce", "refuse", "same_axis", "BatchState",
           "Refuse", "Rewrites", "Rule", "apply_rewrites", "arg", "batch_node", "common_outer",
           "first_carrier", "ints", "is_sample_index", "keeps_outer", "repeat_over_batch",
           "prod", "rank_of", "set_outputs", "static_shape", "where"]

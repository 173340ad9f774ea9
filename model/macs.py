"""Multiply-accumulate count of a CoaT forward pass, from its config (what the paper calls FLOPs).

Counted: convolutions, dense layers and the two attention matmuls. Not counted (as in the
paper's tooling): normalisation, softmax, activations, elementwise products, resampling.
"""
from .coat import CoaTConfig

__all__ = ["count_macs"]


def _attention_macs(cfg: CoaTConfig, dim: int, hw: int) -> int:
    tokens = hw + 1
    head_dim = dim // cfg.num_heads
    linear = 4 * tokens * dim * dim  # q, k, v, proj
    factorized = 2 * tokens * dim * head_dim  # softmax(k)^T @ v, then q @ (.)
    crpe = sum(heads * head_dim * hw * k * k for k, heads in cfg.crpe_window.items())
    return linear + factorized + crpe


def _block_macs(cfg: CoaTConfig, dim: int, hw: int, mlp_ratio: float) -> int:
    cpe = hw * dim * 9  # depthwise 3x3, run by every block
    mlp = 2 * (hw + 1) * dim * int(dim * mlp_ratio)
    return cpe + _attention_macs(cfg, dim, hw) + mlp


def count_macs(cfg: CoaTConfig) -> int:
    dims, ratios = cfg.embed_dims, cfg.mlp_ratios
    sizes = [h * w for h, w in cfg.stage_resolutions]
    total = 0
    in_ch, patch = cfg.in_channels, cfg.patch_size
    for i in range(4):
        total += sizes[i] * dims[i] * in_ch * patch * patch  # patch embedding conv
        in_ch, patch = dims[i], 2
        total += cfg.serial_depths[i] * _block_macs(cfg, dims[i], sizes[i], ratios[i])
    for _ in range(cfg.parallel_depth):
        total += sum(_block_macs(cfg, dims[i], sizes[i], ratios[1]) for i in (1, 2, 3))
    if cfg.parallel_depth:
        total += 3 * dims[3]  # aggregate
    return total + dims[3] * cfg.num_classes

"""CoaT: Co-Scale Conv-Attentional Image Transformers (arXiv 2104.06399) in MindSpore.

Parameter names and shapes follow MindCV's `mindcv/models/coat.py` exactly, so MindCV
checkpoints load strictly. Two deliberate differences from MindCV, neither of which changes
the parameters:

* factorized attention is evaluated in the paper's linear order
  ``q @ (softmax(k)^T @ v)``; MindCV builds the N x N matrix ``(q @ softmax(k))`` first;
* nothing in the graph is built from the batch size at trace time (MindCV's ``insert_cls``
  makes a NumPy array of shape (B, 1, C)); every reshape keeps the batch axis as -1, so the
  same network exports to a MINDIR with a symbolic batch dimension.

Dropout and drop-path are omitted: this network exists for inference and export.
"""
from dataclasses import dataclass, field, asdict
from typing import Dict, List, Sequence, Tuple

import mindspore as ms
from mindspore import nn, ops, Parameter, Tensor
from mindspore.common import initializer as init

from coat_export.edge.defaults import eval_cfg

__all__ = ["CoaTConfig", "CoaT", "VARIANTS", "DEFAULT_CFGS", "default_cfg", "variant_config",
           "create_model"]


@dataclass(frozen=True)
class CoaTConfig:
    """Everything that defines a CoaT architecture (MindCV's constructor arguments)."""

    embed_dims: Tuple[int, int, int, int]
    serial_depths: Tuple[int, int, int, int]
    parallel_depth: int
    num_heads: int
    mlp_ratios: Tuple[float, float, float, float]
    num_classes: int = 1000
    image_size: int = 224
    in_channels: int = 3
    patch_size: int = 4
    qkv_bias: bool = True
    # {kernel size: number of heads using it}; heads must add up to num_heads.
    crpe_window: Dict[int, int] = field(default_factory=lambda: {3: 2, 5: 3, 7: 3})

    def __post_init__(self):
        object.__setattr__(self, "embed_dims", tuple(int(d) for d in self.embed_dims))
        object.__setattr__(self, "serial_depths", tuple(int(d) for d in self.serial_depths))
        object.__setattr__(self, "mlp_ratios", tuple(float(r) for r in self.mlp_ratios))
        object.__setattr__(self, "crpe_window",
                           {int(k): int(v) for k, v in dict(self.crpe_window).items()})
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with a readable reason if the architecture cannot be built."""
        def need(cond, msg):
            if not cond:
                raise ValueError(msg)

        need(len(self.embed_dims) == 4, f"embed_dims needs 4 values, got {list(self.embed_dims)}")
        need(len(self.serial_depths) == 4,
             f"serial_depths needs 4 values, got {list(self.serial_depths)}")
        need(len(self.mlp_ratios) == 4, f"mlp_ratios needs 4 values, got {list(self.mlp_ratios)}")
        need(all(d > 0 for d in self.embed_dims), "embed_dims must be positive")
        need(all(d >= 0 for d in self.serial_depths), "serial_depths must be >= 0")
        need(self.parallel_depth >= 0, "parallel_depth must be >= 0")
        need(self.num_heads > 0, "num_heads must be positive")
        need(self.num_classes > 0, "num_classes must be positive")
        need(self.in_channels > 0, "in_channels must be positive")
        need(self.patch_size > 0, "patch_size must be positive")
        for d in self.embed_dims:
            need(d % self.num_heads == 0,
                 f"every embed dim must be divisible by num_heads={self.num_heads}, got {d}")
        if self.parallel_depth > 0:
            need(self.embed_dims[1] == self.embed_dims[2] == self.embed_dims[3],
                 "parallel blocks need embed_dims[1] == embed_dims[2] == embed_dims[3] "
                 f"(they share one MLP), got {list(self.embed_dims)}")
        stride = self.patch_size * 8
        need(self.image_size % stride == 0 and self.image_size > 0,
             f"image_size must be a multiple of patch_size*8 = {stride}, got {self.image_size}")
        need(sum(self.crpe_window.values()) == self.num_heads,
             f"crpe_window heads {self.crpe_window} must add up to num_heads={self.num_heads}")
        need(all(k % 2 == 1 and k > 0 for k in self.crpe_window),
             f"crpe_window kernel sizes must be odd, got {sorted(self.crpe_window)}")

    @property
    def stage_resolutions(self) -> List[Tuple[int, int]]:
        side = self.image_size // self.patch_size
        return [(side >> i, side >> i) for i in range(4)]

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("embed_dims", "serial_depths", "mlp_ratios"):
            d[k] = list(d[k])
        d["crpe_window"] = {str(k): v for k, v in self.crpe_window.items()}
        return d


_LITE = dict(parallel_depth=0, num_heads=8)
_FULL = dict(serial_depths=(2, 2, 2, 2), parallel_depth=6, num_heads=8, mlp_ratios=(4, 4, 4, 4))

# The seven variants MindCV registers (mindcv/models/coat.py), by name.
VARIANTS: Dict[str, dict] = {
    "coat_tiny": dict(embed_dims=(152, 152, 152, 152), **_FULL),
    "coat_mini": dict(embed_dims=(152, 216, 216, 216), **_FULL),
    "coat_small": dict(embed_dims=(152, 320, 320, 320), **_FULL),
    "coat_lite_tiny": dict(embed_dims=(64, 128, 256, 320), serial_depths=(2, 2, 2, 2),
                           mlp_ratios=(8, 8, 4, 4), **_LITE),
    "coat_lite_mini": dict(embed_dims=(64, 128, 320, 512), serial_depths=(2, 2, 2, 2),
                           mlp_ratios=(8, 8, 4, 4), **_LITE),
    "coat_lite_small": dict(embed_dims=(64, 128, 320, 512), serial_depths=(3, 4, 6, 3),
                            mlp_ratios=(8, 8, 4, 4), **_LITE),
    "coat_lite_medium": dict(embed_dims=(128, 256, 320, 512), serial_depths=(3, 6, 10, 8),
                             mlp_ratios=(4, 4, 4, 4), **_LITE),
}


# Each variant's evaluation preprocessing, kept beside its architecture as timm's default_cfgs:
# MindCV evaluates all seven with its ImageNet eval transform.
DEFAULT_CFGS: Dict[str, dict] = {name: eval_cfg() for name in VARIANTS}


def default_cfg(name: str) -> dict:
    """The preprocessing a variant was evaluated with (MindCV's defaults for custom names)."""
    return dict(DEFAULT_CFGS.get(name) or eval_cfg())


def variant_config(name: str, **overrides) -> CoaTConfig:
    """The CoaTConfig of a named MindCV variant, with optional overrides (num_classes, ...)."""
    if name not in VARIANTS:
        raise KeyError(f"unknown model '{name}'; known: {', '.join(sorted(VARIANTS))}")
    return CoaTConfig(**{**VARIANTS[name], **overrides})


# --------------------------------------------------------------------------- layers


def _tokens_to_image(x: Tensor, channels: int, size: Tuple[int, int]) -> Tensor:
    """(B, H*W, C) -> (B, C, H, W) without reading the batch size."""
    return ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, channels, size[0], size[1]))


def _image_to_tokens(x: Tensor, channels: int, size: Tuple[int, int]) -> Tensor:
    """(B, C, H, W) -> (B, H*W, C) without reading the batch size."""
    return ops.transpose(ops.reshape(x, (-1, channels, size[0] * size[1])), (0, 2, 1))


class Mlp(nn.Cell):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Dense(dim, hidden)
        self.act = nn.GELU(approximate=False)
        self.fc2 = nn.Dense(hidden, dim)

    def construct(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ConvRelPosEnc(nn.Cell):
    """Convolutional relative position encoding: depthwise convs over v, one per head group."""

    def __init__(self, num_heads: int, head_dim: int, window: Dict[int, int]):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.conv_list = nn.CellList()
        self.channel_splits = []
        for kernel, heads in window.items():
            channels = heads * head_dim
            self.conv_list.append(nn.Conv2d(channels, channels, kernel, pad_mode="pad",
                                            padding=kernel // 2, group=channels, has_bias=True))
            self.channel_splits.append(channels)

    def construct(self, q, v, size):
        # q, v: (B, heads, N, head_dim) with the class token at N = 0.
        heads, head_dim = self.num_heads, self.head_dim
        q_img = q[:, :, 1:, :]
        v_img = ops.reshape(ops.transpose(v[:, :, 1:, :], (0, 1, 3, 2)),
                            (-1, heads * head_dim, size[0], size[1]))
        groups = ops.split(v_img, self.channel_splits, axis=1)
        conv_v = ops.concat([conv(g) for conv, g in zip(self.conv_list, groups)], axis=1)
        conv_v = ops.transpose(ops.reshape(conv_v, (-1, heads, head_dim, size[0] * size[1])),
                               (0, 1, 3, 2))
        # The class token has no position: a zero row in front, without reading the batch size.
        return ops.pad(q_img * conv_v, (0, 0, 1, 0))


class FactorAttConvRelPosEnc(nn.Cell):
    """Factorized attention with convolutional relative position encoding."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, shared_crpe: ConvRelPosEnc):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.q = nn.Dense(dim, dim, has_bias=qkv_bias)
        self.k = nn.Dense(dim, dim, has_bias=qkv_bias)
        self.v = nn.Dense(dim, dim, has_bias=qkv_bias)
        self.proj = nn.Dense(dim, dim)
        self.crpe = shared_crpe
        self.softmax = nn.Softmax(axis=-1)
        self.matmul = ops.BatchMatMul()

    def _heads(self, x, tokens, order=(0, 2, 1, 3)):
        # (B, N, C) -> (B, heads, N, head_dim), or another order of the last two axes
        return ops.transpose(ops.reshape(x, (-1, tokens, self.num_heads, self.head_dim)), order)

    def construct(self, x, size):
        tokens, dim = size[0] * size[1] + 1, self.num_heads * self.head_dim
        q = self._heads(self.q(x), tokens)
        # k as (B, heads, head_dim, N), like MindCV: the softmax over tokens is then over the
        # last axis, which runtimes compute without a transpose.
        k = self._heads(self.k(x), tokens, (0, 2, 3, 1))
        v = self._heads(self.v(x), tokens)
        # Linear order: softmax(k) @ v is head_dim x head_dim, then q @ (that).
        kv = self.matmul(self.softmax(k), v)
        factor_att = self.matmul(q, kv)
        x = self.scale * factor_att + self.crpe(q, v, size)
        x = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, tokens, dim))
        return self.proj(x)


class ConvPosEnc(nn.Cell):
    """Convolutional position encoding: a depthwise conv added to the image tokens."""

    def __init__(self, dim: int, k: int = 3):
        super().__init__()
        self.dim = dim
        self.proj = nn.Conv2d(dim, dim, k, stride=1, pad_mode="pad", padding=k // 2,
                              group=dim, has_bias=True)

    def construct(self, x, size):
        cls_token, img_tokens = x[:, :1], x[:, 1:]
        feat = _tokens_to_image(img_tokens, self.dim, size)
        feat = self.proj(feat) + feat
        return ops.concat((cls_token, _image_to_tokens(feat, self.dim, size)), axis=1)


class SerialBlock(nn.Cell):
    def __init__(self, dim, num_heads, mlp_ratio, qkv_bias, shared_cpe, shared_crpe):
        super().__init__()
        self.cpe = shared_cpe
        self.norm1 = nn.LayerNorm((dim,), epsilon=1e-6)
        self.factoratt_crpe = FactorAttConvRelPosEnc(dim, num_heads, qkv_bias, shared_crpe)
        self.norm2 = nn.LayerNorm((dim,), epsilon=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def construct(self, x, size):
        # MindCV's residual skips the position encoding: x + attn(norm(cpe(x))). (timm adds
        # attn to cpe(x)); MindCV's checkpoints were trained with this form.
        x = x + self.factoratt_crpe(self.norm1(self.cpe(x, size)), size)
        return x + self.mlp(self.norm2(x))


class ParallelBlock(nn.Cell):
    """Co-scale block: attention at scales 2-4, with cross-scale bilinear resampling."""

    def __init__(self, dims, num_heads, mlp_ratios, qkv_bias, shared_cpes, shared_crpes):
        super().__init__()
        self.dim = dims[1]
        self.cpes = shared_cpes
        self.norm12 = nn.LayerNorm((dims[1],), epsilon=1e-6)
        self.norm13 = nn.LayerNorm((dims[2],), epsilon=1e-6)
        self.norm14 = nn.LayerNorm((dims[3],), epsilon=1e-6)
        self.factoratt_crpe2 = FactorAttConvRelPosEnc(dims[1], num_heads, qkv_bias, shared_crpes[1])
        self.factoratt_crpe3 = FactorAttConvRelPosEnc(dims[2], num_heads, qkv_bias, shared_crpes[2])
        self.factoratt_crpe4 = FactorAttConvRelPosEnc(dims[3], num_heads, qkv_bias, shared_crpes[3])
        self.norm22 = nn.LayerNorm((dims[1],), epsilon=1e-6)
        self.norm23 = nn.LayerNorm((dims[2],), epsilon=1e-6)
        self.norm24 = nn.LayerNorm((dims[3],), epsilon=1e-6)
        # One MLP shared by the three scales, as in the paper's code (MindCV: mlp2 = mlp3 = mlp4).
        self.mlp2 = Mlp(dims[1], int(dims[1] * mlp_ratios[1]))
        # MindCV resizes with its old interpolate API, whose default is align_corners (timm's
        # PyTorch CoaT uses half-pixel); its checkpoints were trained with this. The primitive
        # is used directly: ops.interpolate adds a control-flow subgraph that breaks
        # dynamic-batch MINDIR on CPU.
        self.resize = ops.ResizeBilinearV2(align_corners=True, half_pixel_centers=False)

    def resample(self, x, src_size, dst_size):
        cls_token, img_tokens = x[:, :1, :], x[:, 1:, :]
        img = _tokens_to_image(img_tokens, self.dim, src_size)
        img = self.resize(img, dst_size)
        return ops.concat((cls_token, _image_to_tokens(img, self.dim, dst_size)), axis=1)

    def construct(self, x2, x3, x4, sizes):
        _, s2, s3, s4 = sizes
        x2 = self.cpes[1](x2, s2)
        x3 = self.cpes[2](x3, s3)
        x4 = self.cpes[3](x4, s4)
        cur2 = self.factoratt_crpe2(self.norm12(x2), s2)
        cur3 = self.factoratt_crpe3(self.norm13(x3), s3)
        cur4 = self.factoratt_crpe4(self.norm14(x4), s4)
        x2 = x2 + (cur2 + self.resample(cur3, s3, s2) + self.resample(cur4, s4, s2))
        x3 = x3 + (cur3 + self.resample(cur4, s4, s3) + self.resample(cur2, s2, s3))
        x4 = x4 + (cur4 + self.resample(cur3, s3, s4) + self.resample(cur2, s2, s4))
        x2 = x2 + self.mlp2(self.norm22(x2))
        x3 = x3 + self.mlp2(self.norm23(x3))
        x4 = x4 + self.mlp2(self.norm24(x4))
        return x2, x3, x4


class PatchEmbed(nn.Cell):
    def __init__(self, patch_size: int, in_channels: int, embed_dim: int, out_size):
        super().__init__()
        self.embed_dim = embed_dim
        self.out_size = tuple(out_size)
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size,
                              pad_mode="valid", has_bias=True)
        self.norm = nn.LayerNorm((embed_dim,), epsilon=1e-5)

    def construct(self, x):
        return self.norm(_image_to_tokens(self.proj(x), self.embed_dim, self.out_size))


# --------------------------------------------------------------------------- network


class CoaT(nn.Cell):
    """CoaT / CoaT-Lite classifier. Input (B, in_channels, S, S) float32, output (B, classes)."""

    def __init__(self, config: CoaTConfig):
        super().__init__()
        self.config = cfg = config
        dims = cfg.embed_dims
        self.embed_dims = dims
        self.sizes = tuple(cfg.stage_resolutions)
        self.parallel_depth = cfg.parallel_depth

        sizes = self.sizes
        self.patch_embed1 = PatchEmbed(cfg.patch_size, cfg.in_channels, dims[0], sizes[0])
        self.patch_embed2 = PatchEmbed(2, dims[0], dims[1], sizes[1])
        self.patch_embed3 = PatchEmbed(2, dims[1], dims[2], sizes[2])
        self.patch_embed4 = PatchEmbed(2, dims[2], dims[3], sizes[3])

        for i, d in enumerate(dims, start=1):
            setattr(self, f"cls_token{i}",
                    Parameter(init.initializer(init.TruncatedNormal(sigma=0.02), (1, 1, d),
                                               ms.float32), name=f"cls_token{i}"))

        self.cpe1, self.cpe2, self.cpe3, self.cpe4 = (ConvPosEnc(d, 3) for d in dims)
        self.crpe1, self.crpe2, self.crpe3, self.crpe4 = (
            ConvRelPosEnc(cfg.num_heads, d // cfg.num_heads, cfg.crpe_window) for d in dims)
        cpes = [self.cpe1, self.cpe2, self.cpe3, self.cpe4]
        crpes = [self.crpe1, self.crpe2, self.crpe3, self.crpe4]

        for i in range(4):
            blocks = nn.CellList([
                SerialBlock(dims[i], cfg.num_heads, cfg.mlp_ratios[i], cfg.qkv_bias,
                            cpes[i], crpes[i])
                for _ in range(cfg.serial_depths[i])])
            setattr(self, f"serial_blocks{i + 1}", blocks)

        if cfg.parallel_depth > 0:
            self.parallel_blocks = nn.CellList([
                ParallelBlock(dims, cfg.num_heads, cfg.mlp_ratios, cfg.qkv_bias, cpes, crpes)
                for _ in range(cfg.parallel_depth)])
            self.norm2 = nn.LayerNorm((dims[1],), epsilon=1e-6)
            self.norm3 = nn.LayerNorm((dims[2],), epsilon=1e-6)
        else:
            self.parallel_blocks = None
        self.norm4 = nn.LayerNorm((dims[3],), epsilon=1e-6)
        if cfg.parallel_depth > 0:
            # Mixes the class tokens of scales 2-4 (a 1x1 Conv1d, as in MindCV).
            self.aggregate = nn.Conv1d(3, 1, 1, has_bias=True)
        self.head = nn.Dense(dims[3], cfg.num_classes)
        self._init_weights()

    def _init_weights(self):
        # MindCV's initialisation: truncated normal Dense weights, zero biases, unit LayerNorms.
        for _, cell in self.cells_and_names():
            if isinstance(cell, nn.Dense):
                cell.weight.set_data(init.initializer(init.TruncatedNormal(sigma=0.02),
                                                      cell.weight.shape, ms.float32))
                if cell.bias is not None:
                    cell.bias.set_data(init.initializer("zeros", cell.bias.shape, ms.float32))
            elif isinstance(cell, nn.LayerNorm):
                cell.gamma.set_data(init.initializer("ones", cell.gamma.shape, ms.float32))
                cell.beta.set_data(init.initializer("zeros", cell.beta.shape, ms.float32))

    @staticmethod
    def insert_cls(x, cls_token):
        # Broadcast the class token over the batch by adding it to zeros shaped like one token
        # of x: the batch size is never read, so the graph stays batch-agnostic.
        return ops.concat((ops.zeros_like(x[:, :1, :]) + cls_token, x), axis=1)

    def _serial_stage(self, x_img, patch_embed, cls_token, blocks, size):
        x = self.insert_cls(patch_embed(x_img), cls_token)
        for blk in blocks:
            x = blk(x, size)
        return x

    def forward_features(self, x):
        dims, sizes = self.embed_dims, self.sizes
        x1 = self._serial_stage(x, self.patch_embed1, self.cls_token1, self.serial_blocks1,
                                sizes[0])
        x2 = self._serial_stage(_tokens_to_image(x1[:, 1:], dims[0], sizes[0]),
                                self.patch_embed2, self.cls_token2, self.serial_blocks2, sizes[1])
        x3 = self._serial_stage(_tokens_to_image(x2[:, 1:], dims[1], sizes[1]),
                                self.patch_embed3, self.cls_token3, self.serial_blocks3, sizes[2])
        x4 = self._serial_stage(_tokens_to_image(x3[:, 1:], dims[2], sizes[2]),
                                self.patch_embed4, self.cls_token4, self.serial_blocks4, sizes[3])
        if self.parallel_blocks is None:
            return self.norm4(x4)[:, 0]
        for blk in self.parallel_blocks:
            x2, x3, x4 = blk(x2, x3, x4, sizes)
        merged_cls = ops.concat((self.norm2(x2)[:, :1], self.norm3(x3)[:, :1],
                                 self.norm4(x4)[:, :1]), axis=1)
        return ops.squeeze(self.aggregate(merged_cls), 1)

    def construct(self, x):
        return self.head(self.forward_features(x))


def create_model(name_or_config, **overrides) -> CoaT:
    """Build a CoaT from a variant name or a CoaTConfig (overrides apply to names only)."""
    if isinstance(name_or_config, CoaTConfig):
        return CoaT(name_or_config)
    return CoaT(variant_config(name_or_config, **overrides))

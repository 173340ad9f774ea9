"""The source network: its spec from a yaml config (ours or MindCV's training yaml) and
command-line flags, its `model.CoaTConfig`, and the network built from them with its
checkpoint loaded strictly (`build_model`).

A spec is plain data (precedence: built-in variant < config file < command-line flags); only
`build_model` imports MindSpore.
"""
import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from ..edge.errors import UserError
from ..edge.progress import say, step

DEFAULT_MODEL = "coat_lite_tiny"  # the seed recipe's model

# Architecture keys a config may set, and the MindCV spellings that mean the same.
ARCH_KEYS = ("embed_dims", "serial_depths", "parallel_depth", "num_heads", "mlp_ratios",
             "num_classes", "image_size", "in_channels", "patch_size", "qkv_bias", "crpe_window")
ALIASES = {"image_resize": "image_size", "in_chans": "in_channels"}
PIPELINE_KEYS = ("model", "ckpt_path", "crop_pct", "interpolation", "mean", "std",
                 "architecture", "batch_size")
# Every key MindCV 0.3's config.py defines (and its CoaT yamls use) that has no meaning for
# export: accepted silently, as MindCV's own train.py / validate.py accept them.
MINDCV_TRAINING_KEYS = frozenset("""
    mode distribute val_while_train val_interval log_interval pretrained resume_opt seed
    dataset data_dir train_split val_split dataset_download num_parallel_workers shuffle
    num_samples drop_remainder aug_repeats scale ratio hflip vflip color_jitter auto_augment
    re_prob re_scale re_ratio re_value re_max_attempts cutmix cutmix_prob mixup drop_rate
    drop_path_rate amp_level keep_checkpoint_max ckpt_save_dir ckpt_save_interval epoch_size
    dataset_sink_mode ckpt_save_policy ema_decay clip_grad clip_value opt momentum
    weight_decay loss_scale loss_scale_type dynamic_loss_scale drop_overflow_update
    use_nesterov filter_bias_and_bn eps scheduler lr min_lr warmup_epochs warmup_factor
    decay_epochs decay_rate multi_step_decay_milestones lr_epoch_stair num_cycles cycle_decay
    loss label_smoothing aux_factor reduction enable_modelarts device_target multi_data_url
    data_url ckpt_url train_url gradient_accumulation_steps train_step_interval
    """.split())
# Keys this toolkit reads: a warning (with a suggestion) goes only to unknown keys that look
# like a misspelling of one of these; other unknown keys are named without one.
USED_KEYS = set(ARCH_KEYS) | set(ALIASES) | set(PIPELINE_KEYS) | {"ema"}
_KNOWN = USED_KEYS | MINDCV_TRAINING_KEYS


@dataclass
class ModelSpec:
    """What to build and how to preprocess for it."""

    name: str
    overrides: Dict[str, Any] = field(default_factory=dict)  # CoaTConfig fields
    ckpt_path: Optional[str] = None
    # preprocessing given by the config; None: the variant's default_cfg (model.DEFAULT_CFGS)
    crop_pct: Optional[float] = None
    interpolation: Optional[str] = None
    mean: Optional[tuple] = None
    std: Optional[tuple] = None
    source: str = "built-in default"
    # the checkpoint's EMA copies are the network (MindCV: ema: True); None: not said
    ema: Optional[bool] = None

    def preprocessing(self, image_size: int) -> Dict[str, Any]:
        from ..model import default_cfg

        cfg = default_cfg(self.name)
        for key in ("crop_pct", "interpolation", "mean", "std"):
            if getattr(self, key) is not None:
                cfg[key] = getattr(self, key)
        return {"image_size": image_size, "crop_pct": cfg["crop_pct"],
                "interpolation": cfg["interpolation"], "mean": list(cfg["mean"]),
                "std": list(cfg["std"])}


def read_yaml(path: str) -> Dict[str, Any]:
    """yaml.safe_load a config file; UserError for a missing, unreadable or malformed one."""
    import yaml

    if not os.path.isfile(path):
        raise UserError(f"config file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise UserError(f"malformed yaml in {path}{where}: {problem}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config {path} must be a mapping of keys to values, "
                        f"not a {type(data).__name__}")
    return data


def _warn_unknown(keys, path: str) -> None:
    unknown = [str(k) for k in keys if k not in _KNOWN]
    plain = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(USED_KEYS), n=1, cutoff=0.75)
        if close:
            say(f"warning: {path}: unknown key '{key}' ignored (did you mean '{close[0]}'?)")
        else:
            plain.append(key)
    if plain:
        shown = ", ".join(plain[:5]) + (f" (+{len(plain) - 5} more)" if len(plain) > 5 else "")
        say(f"warning: {path}: key(s) neither MindCV nor coat-export knows, ignored: {shown}")


def spec_from_config(data: Dict[str, Any], path: str) -> ModelSpec:
    """A ModelSpec from a parsed config. Training-only keys (MindCV's) are ignored."""
    _warn_unknown(data.keys(), path)
    name = data.get("model") or DEFAULT_MODEL
    if not isinstance(name, str):
        raise UserError(f"{path}: 'model' must be a model name, got {name!r}")
    overrides: Dict[str, Any] = {}
    for key, value in data.items():
        key = ALIASES.get(key, key)
        if key in ARCH_KEYS and value is not None:
            overrides[key] = value
    arch = data.get("architecture") or {}
    if not isinstance(arch, dict):
        raise UserError(f"{path}: 'architecture' must be a mapping")
    for key, value in arch.items():
        key = ALIASES.get(key, key)
        if key not in ARCH_KEYS:
            raise UserError(f"{path}: unknown architecture key '{key}'; "
                            f"known: {', '.join(ARCH_KEYS)}")
        overrides[key] = value
    spec = ModelSpec(name=name, overrides=overrides, source=path)
    ckpt = data.get("ckpt_path")
    if ckpt:
        spec.ckpt_path = str(ckpt)
    ema = data.get("ema")
    if ema is not None:
        if isinstance(ema, str) and ema.lower() in ("true", "yes", "1", "false", "no", "0"):
            ema = ema.lower() in ("true", "yes", "1")   # MindCV's str2bool
        if not isinstance(ema, bool):
            raise UserError(f"{path}: 'ema' must be true or false, got {ema!r}")
        spec.ema = ema
    for key in ("crop_pct", "interpolation"):
        if data.get(key) is not None:
            setattr(spec, key, data[key])
    for key in ("mean", "std"):
        if data.get(key) is not None:
            # MindCV configs may give mean/std scaled to 0..255
            values = tuple(float(v) for v in data[key])
            setattr(spec, key, tuple(v / 255.0 for v in values) if max(values) > 1.0 else values)
    return spec


def resolve_spec(config_path: Optional[str] = None, model: Optional[str] = None,
                 ckpt_path: Optional[str] = None, ema: Optional[bool] = None,
                 **flag_overrides) -> ModelSpec:
    """Combine config file and flags. Flags that are None are not given."""
    if config_path:
        spec = spec_from_config(read_yaml(config_path), config_path)
    else:
        spec = ModelSpec(name=DEFAULT_MODEL)
    if model:
        spec.name = model
    if ckpt_path:
        spec.ckpt_path = ckpt_path
    if ema is not None:
        spec.ema = ema
    for key, value in flag_overrides.items():
        if value is not None:
            spec.overrides[key] = value
    return spec


def build_config(spec: ModelSpec):
    """The model.CoaTConfig for a spec; UserError for an unknown model or a bad architecture."""
    from ..model import CoaTConfig, VARIANTS

    fields = dict(spec.overrides)
    if spec.name in VARIANTS:
        fields = {**VARIANTS[spec.name], **fields}
    else:
        required = ("embed_dims", "serial_depths", "parallel_depth", "num_heads", "mlp_ratios")
        missing = [k for k in required if k not in fields]
        if missing:
            raise UserError(f"unknown model '{spec.name}'; known: {', '.join(sorted(VARIANTS))} "
                            f"(or give a custom architecture in a config with "
                            f"{', '.join(required)})")
    try:
        return CoaTConfig(**fields)
    except (TypeError, ValueError) as exc:
        raise UserError(f"invalid architecture for '{spec.name}' ({spec.source}): {exc}") from exc


# ----------------------------------------------------------------------------- the network

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class BuiltModel:
    """The network built from a spec, what its checkpoint gave, and its runner."""

    name: str
    config: object  # model.CoaTConfig
    network: object  # model.CoaT, in inference mode
    ckpt_path: Optional[str]
    load_info: Dict[str, object] = field(default_factory=dict)
    _runner: object = field(default=None, init=False, repr=False, compare=False)

    @property
    def runner(self):
        """The network as a runner (the reference of verification, check and bundles), made
        once and shared by them."""
        if self._runner is None:
            from .runners.network_runner import NetworkRunner

            self._runner = NetworkRunner(self)
        return self._runner

    @property
    def weights(self) -> Optional[str]:
        """'raw' or 'ema' (which checkpoint entries are the network); None: random weights."""
        return self.load_info.get("weights") if self.ckpt_path else None

    @property
    def input_shape(self):
        c = self.config
        return (c.in_channels, c.image_size, c.image_size)


def build_model(spec: ModelSpec, seed: int = 0) -> BuiltModel:
    """Build the network and load its checkpoint strictly (or seeded random weights)."""
    if not _NAME_RE.match(spec.name):
        raise UserError(f"model name '{spec.name}' must use only letters, digits, '_', '.', '-'")
    config = build_config(spec)
    if spec.ckpt_path and not os.path.isfile(spec.ckpt_path):
        raise UserError(f"checkpoint not found: {spec.ckpt_path}")
    from ..model import CheckpointError, create_model, load_checkpoint_strict

    from .mindspore_import import import_mindspore

    ms = import_mindspore()
    with step(f"build {spec.name}"):
        ms.set_seed(seed)
        net = create_model(config)
        net.set_train(False)
    info: Dict[str, object] = {}
    if spec.ckpt_path:
        with step(f"load checkpoint {spec.ckpt_path}"):
            try:
                info = load_checkpoint_strict(net, spec.ckpt_path, ema=bool(spec.ema))
            except CheckpointError as exc:
                raise UserError(str(exc)) from exc
        if info["weights"] == "ema":
            say("note: the network is the checkpoint's EMA weights (ema.*), as MindCV's "
                "validate.py loads them for ema: True")
        elif info["has_ema"]:
            say("note: the checkpoint also holds EMA weights (ema.*); the raw weights are "
                "used: --ema (or ema: True in the yaml) selects the EMA ones, which MindCV "
                "validates")
        if info.get("raw_weights_saved_as") and info["weights"] == "raw":
            say(f"note: the raw weights were saved as {info['raw_weights_saved_as']} (MindSpore "
                "names them so under gradient accumulation); read from there")
        if info.get("dropped_summary"):
            say(f"note: dropped training state: {info['dropped_summary']}")
    else:
        say(f"warning: no --ckpt_path: {spec.name} has RANDOM weights (seed {seed}); the export "
            "is only good for testing the pipeline")
    return BuiltModel(spec.name, config, net, spec.ckpt_path, info)

"""CoaT in MindSpore, parameter-compatible with MindCV checkpoints."""
from .coat import (CoaT, CoaTConfig, DEFAULT_CFGS, VARIANTS, create_model, default_cfg,
                   variant_config)
from .checkpoint import CheckpointError, load_checkpoint_strict, read_checkpoint

__all__ = ["CoaT", "CoaTConfig", "VARIANTS", "DEFAULT_CFGS", "default_cfg", "create_model",
           "variant_config",
           "CheckpointError", "load_checkpoint_strict", "read_checkpoint"]

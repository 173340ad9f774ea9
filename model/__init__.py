"""CoaT in MindSpore, parameter-compatible with MindCV checkpoints."""
from .coat import CoaT, CoaTConfig, VARIANTS, create_model, variant_config
from .checkpoint import CheckpointError, load_checkpoint_strict, read_checkpoint

__all__ = ["CoaT", "CoaTConfig", "VARIANTS", "create_model", "variant_config",
           "CheckpointError", "load_checkpoint_strict", "read_checkpoint"]

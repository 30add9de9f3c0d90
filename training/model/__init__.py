"""CSTrack / CSTrack-S networks in PyTorch (imports torch).

``build_model("cstrack_s")`` builds a network from a shipped config (or a YAML path, or a
:class:`ModelConfig`); see :mod:`mottrack_training.model.cstrack` for the forward contract.
"""
from mottrack_training.model.config import ConfigError, LayerSpec, ModelConfig, load_model_config
from mottrack_training.model.cstrack import CSTrack, build_model
from mottrack_training.model.heads import decode_predictions

__all__ = [
    "CSTrack",
    "ConfigError",
    "LayerSpec",
    "ModelConfig",
    "build_model",
    "decode_predictions",
    "load_model_config",
]

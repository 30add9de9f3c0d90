"""Training engine: options, data sources, the train loop, checkpoints, EMA, schedule, DDP, validation.

>>> from mottrack_training.engine import Trainer, load_train_options
>>> Trainer(load_train_options("configs/cstrack_s_synthetic.yaml")).fit()

Command line: ``mottrack train --config configs/<name>.yaml [--resume CKPT] [--out DIR]``; several
GPUs: ``torchrun --nproc-per-node N -m mottrack_sdk.cli.main train --config ...``.
"""
from mottrack_training.engine.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from mottrack_training.engine.distributed import DistContext, ShardedBatchSampler, init_distributed
from mottrack_training.engine.inference import FrameDetections, box_iou_matrix, detect, nms
from mottrack_training.engine.metrics import DetectionAP, average_precision, match_detections
from mottrack_training.engine.optimization import ModelEma, WarmupStepSchedule, build_optimizer
from mottrack_training.engine.options import (DataConfig, JdeListSource, LogOptions, ModelOptions, OptimOptions,
                                              SourceOptions, SyntheticSource, TrainOptions, ValOptions,
                                              load_train_options, train_options_from_dict)
from mottrack_training.engine.trainer import Trainer, TrainSummary, init_class_prior
from mottrack_training.engine.validation import ValidationResult, validate_sequences

__all__ = [
    "DataConfig", "DetectionAP", "DistContext", "FrameDetections", "JdeListSource", "LogOptions", "ModelEma",
    "ModelOptions", "OptimOptions", "ShardedBatchSampler", "SourceOptions", "SyntheticSource", "TrainOptions",
    "TrainSummary", "Trainer", "ValOptions", "ValidationResult", "WarmupStepSchedule", "average_precision",
    "box_iou_matrix", "build_optimizer", "detect", "init_class_prior", "init_distributed", "load_checkpoint",
    "load_model_weights", "load_train_options", "match_detections", "nms", "save_checkpoint",
    "train_options_from_dict", "validate_sequences",
]

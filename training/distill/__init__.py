"""Teacher pseudo-labelling of real footage (``mottrack pseudo-label``): the ``[distill]`` extra.

Modules: ``teachers`` (the :class:`Teacher` interface, OpenVINO and ONNX Runtime detectors),
``specs`` (``--teachers`` parsing), ``fusion`` (weighted box fusion), ``identities`` (score bands,
ignore regions, tracklet ids), ``sources`` (what to read), ``sequence_writer`` (MOTChallenge output),
``pipeline`` (the run: :func:`pseudo_label`), ``reid`` (optional appearance embeddings), ``cli_args`` (the command).
Public names load lazily (the CLI imports ``cli_args`` on every start-up); openvino / onnx /
onnxruntime load when a teacher first runs. The runtime (``mottrack_sdk``) never imports this package.
"""
from mottrack_sdk.lazy_exports import lazy_exports

_EXPORTS = {
    "FusedBoxes": "fusion", "weighted_box_fusion": "fusion",
    "LabelRows": "identities", "LabelThresholds": "identities", "SequenceLabeler": "identities",
    "PseudoLabelOptions": "pipeline", "SequenceReport": "pipeline", "pseudo_label": "pipeline",
    "TeacherSpec": "specs", "build_teachers": "specs", "parse_teacher_specs": "specs",
    "MultiScaleTeacher": "teachers", "OpenVinoPersonTeacher": "teachers", "Teacher": "teachers",
    "YoloxOnnxTeacher": "teachers",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

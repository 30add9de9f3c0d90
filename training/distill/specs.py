"""Which teachers to run: ``--teachers pd0200@960x544,pd0201@1280x736,yolox@960x544``.

A spec is ``MODEL@WIDTHxHEIGHT`` (the size is optional: the model's default below), or
``MODEL@WxH+WxH...``: the model at several input sizes (each side at most
:data:`~.teachers.MAX_INPUT_SIDE`), merged into one teacher
(:class:`~.teachers.MultiScaleTeacher`). ``MODEL`` is a
short name resolved in the teacher folder, or a path to a ``.xml`` (OpenVINO person-detection IR)
or ``.onnx`` (YOLOX) file. The teacher folder is ``--teacher-dir``, else ``$MOTTRACK_TEACHER_DIR``,
else ``../shared/models/teachers`` beside the repository.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mottrack_sdk.config import parse_size
from mottrack_training.distill.teachers import (MAX_INPUT_SIDE, MultiScaleTeacher, OpenVinoPersonTeacher, Teacher,
                                                YoloxOnnxTeacher)

__all__ = ["DEFAULT_TEACHERS", "KNOWN_TEACHERS", "TeacherSpec", "build_teachers", "default_teacher_dir",
           "parse_teacher_specs"]

# short name -> (file under the teacher folder, default input size): the sizes of the best measured
# AP50 on MOT17-mini (../shared/models/README.md)
KNOWN_TEACHERS: dict[str, tuple[str, tuple[int, int]]] = {
    "pd0200": ("openvino/person-detection-0200.xml", (960, 544)),
    "pd0201": ("openvino/person-detection-0201.xml", (1280, 736)),
    "yolox": ("onnx/yolox_nano_coco.onnx", (960, 544)),
}
DEFAULT_TEACHERS = "pd0200@960x544+512x288,pd0201@1280x736+640x352,yolox@960x544"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TeacherSpec:
    """One teacher: ``model`` (a short name or a file path) at ``input_sizes`` ((width, height), ...)."""

    model: str
    input_sizes: tuple[tuple[int, int], ...]

    @property
    def label(self) -> str:
        name = self.model if self.model in KNOWN_TEACHERS else Path(self.model).stem
        return f"{name}@" + "+".join(f"{w}x{h}" for w, h in self.input_sizes)


def parse_teacher_specs(text: str) -> tuple[TeacherSpec, ...]:
    """``"pd0200@960x544,yolox"`` -> specs; ``ValueError`` naming ``--teachers`` on bad input."""
    specs = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        model, sep, size = item.rpartition("@") if "@" in item else (item, "", "")
        if model in KNOWN_TEACHERS:
            default = KNOWN_TEACHERS[model][1]
        elif model.lower().endswith((".xml", ".onnx")):
            default = None
        else:
            raise ValueError(f"--teachers: unknown teacher {model!r}; use one of {sorted(KNOWN_TEACHERS)} or a "
                             "path to a .xml (OpenVINO) / .onnx (YOLOX) file, e.g. pd0200@960x544")
        sizes = tuple(_parse_size(one, item) for one in size.split("+")) if sep else (_need(default, item),)
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"--teachers: {item!r} lists the same size twice")
        specs.append(TeacherSpec(model, sizes))
    if not specs:
        raise ValueError(f"--teachers: expected at least one teacher, e.g. {DEFAULT_TEACHERS}")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--teachers: the same teacher at the same size is listed twice ({', '.join(labels)})")
    return tuple(specs)


def _parse_size(text: str, item: str) -> tuple[int, int]:
    return parse_size(text, f"--teachers: {item!r}: the size", example="960x544, or 960x544+1280x736",
                      maximum=MAX_INPUT_SIDE)


def _need(size: tuple[int, int] | None, item: str) -> tuple[int, int]:
    if size is None:
        raise ValueError(f"--teachers: {item!r}: give an input size for a model file, e.g. {item}@960x544")
    return size


def default_teacher_dir() -> Path:
    """``$MOTTRACK_TEACHER_DIR``, else ``../shared/models/teachers`` beside the repository."""
    env = os.environ.get("MOTTRACK_TEACHER_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "models" / "teachers"


def build_teachers(specs: tuple[TeacherSpec, ...], teacher_dir: str | Path | None = None, threads: int = 2,
                   min_score: float = 0.05) -> list[Teacher]:
    """The :class:`Teacher` of every spec (models open on first use).

    Raises:
        ValueError: a model file that does not exist (naming it and ``--teacher-dir``).
    """
    folder = Path(teacher_dir) if teacher_dir is not None else default_teacher_dir()
    teachers: list[Teacher] = []
    for spec in specs:
        if spec.model in KNOWN_TEACHERS:
            path = folder / KNOWN_TEACHERS[spec.model][0]
            if not path.is_file():
                raise ValueError(f"--teachers {spec.model}: {path} not found; point --teacher-dir at the folder "
                                 "holding openvino/ and onnx/ (../shared/models/teachers)")
        else:
            path = Path(spec.model)
            if not path.is_file():
                raise ValueError(f"--teachers: model file {path} not found")
        cls = OpenVinoPersonTeacher if path.suffix.lower() == ".xml" else YoloxOnnxTeacher
        scales: list[Teacher] = [cls(path, size, min_score=min_score, threads=threads) for size in spec.input_sizes]
        if len(scales) == 1:
            scales[0].name = spec.label
        teachers.append(scales[0] if len(scales) == 1 else MultiScaleTeacher(scales, name=spec.label))
    return teachers

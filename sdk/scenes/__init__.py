"""Synthetic MOT scenes: deterministic pedestrian sequences rendered with numpy + OpenCV (no torch).

- :class:`SceneOptions`: every knob (size, length, density, palette, blur, noise, lighting ...).
- :class:`SceneGenerator`: frames and ground truth in memory (:class:`SceneFrame`), for demos.
- :func:`write_sequence` / :func:`write_sequences`: MOTChallenge folders (``img1/``, ``gt/gt.txt``,
  ``seqinfo.ini``) written atomically, for training and ``mottrack eval``.

See ``README.md`` in this folder for the knobs and what the scenes contain. Names are imported on
first use (PEP 562), so ``from mottrack_sdk.scenes import SceneOptions`` does not load OpenCV: the
CLI builds its ``synth`` parser from the options without slowing ``mottrack --help``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from mottrack_sdk.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from mottrack_sdk.scenes.generator import SceneFrame, SceneGenerator
    from mottrack_sdk.scenes.options import SceneOptions
    from mottrack_sdk.scenes.writer import (sequence_base_seed, sequence_name, sequence_seed, write_sequence,
                                            write_sequences)

_EXPORTS = {
    "SceneFrame": "generator",
    "SceneGenerator": "generator",
    "SceneOptions": "options",
    "sequence_base_seed": "writer",
    "sequence_name": "writer",
    "sequence_seed": "writer",
    "write_sequence": "writer",
    "write_sequences": "writer",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

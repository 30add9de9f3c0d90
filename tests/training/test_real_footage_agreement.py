"""benchmarks/real_footage_agreement.py: one greedy matching of all boxes gives every threshold's counts."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import real_footage_agreement as agreement  # noqa: E402
from mottrack_training.engine.metrics import match_detections  # noqa: E402


def test_counts_equal_matching_only_the_boxes_above_each_threshold():
    rng = np.random.default_rng(0)
    thresholds = [0.2, 0.4, 0.5, 0.7]
    for _ in range(20):
        gt = rng.uniform(0, 200, (6, 2)); gt = np.c_[gt, gt + rng.uniform(20, 60, (6, 2))]
        ignore = gt[:1] + 300
        dets = np.r_[gt[:4] + rng.normal(0, 6, (4, 4)), gt[:2] + rng.normal(0, 3, (2, 4)),
                     rng.uniform(0, 400, (3, 2)).repeat(2, axis=1) + [0, 0, 30, 50], ignore + 1]
        scores = rng.uniform(0, 1, len(dets))
        rows = agreement._counts(match_detections(dets, scores, gt, ignore), scores, len(gt), thresholds)
        for t, row in zip(thresholds, rows):
            kept = scores >= t
            labels = match_detections(dets[kept], scores[kept], gt, ignore)
            assert (row["TP"], row["FP"], row["FN"]) == (int(np.sum(labels == 1)), int(np.sum(labels == 0)),
                                                         len(gt) - int(np.sum(labels == 1)))
            assert row["agreement"] == round(100 * (1 - (row["FP"] + row["FN"]) / len(gt)), 1)

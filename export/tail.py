"""The detection tail that runs inside the exported graph, and the wrappers exported with the network.

:class:`DetectionTail` turns CSTrack's decoded predictions and stride-8 embedding map into fixed-size
outputs (deployment facts, "Recommended tail")::

    decoded [1, N, 4 + nc] --score--> TopK(K) --> NonMaxSuppression(IoU, score threshold, max_det)
        --> pad to max_det --> order by score --> boxes [max_det, 4], scores [max_det]
    embedding map [1, E, h, w] --gather at each kept box centre (cell floor(c / s), clamped to the map)
        --> L2 normalise --> embeddings [max_det, E];  count [1] int64 = number of valid rows

Rows ``count..max_det-1`` are zero. Boxes are ``xyxy`` in network-input pixels. Batch 1 only.

:class:`EndToEndModel`'s default ``embedding_head="sparse"`` never builds the embedding map: SAAN's
last 3x3 and 1x1 convolutions run on the 3x3 patches of the kept boxes' cells (``max_det`` rows)
instead of all h·w cells. CSTrack-nano at 640x352: the same embeddings to 1e-7, 1.2 ms less per frame
on the 2-core CPU (benchmarks/README.md, "Sparse embedding head").

``NonMaxSuppression`` has no torch operator without torchvision, so :class:`NonMaxSuppressionFunction`
is an autograd Function whose ``symbolic`` emits the ONNX op and whose ``forward`` computes the same
greedy NMS in torch (ONNX Runtime's rules: candidates with score > threshold, highest score first,
ties by lower index, a box is dropped when IoU > threshold; zero-area boxes suppress nothing).
"""
from __future__ import annotations

import torch
from torch import nn

from mottrack_export.options import EMBEDDING_HEADS, TailOptions, check_embedding_head

__all__ = ["EMBEDDING_HEADS", "DetectionTail", "EndToEndModel", "NonMaxSuppressionFunction", "RawHeadsModel",
           "TailOptions", "greedy_nms", "l2_normalise"]

def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, score_threshold: float,
               max_output: int) -> torch.Tensor:
    """Indices (int64, selection order) of the boxes greedy NMS keeps: boxes [K, 4] corners, scores [K]."""
    candidates = torch.nonzero(scores > score_threshold).flatten()
    if candidates.numel() == 0 or max_output <= 0:
        return torch.zeros(0, dtype=torch.int64)
    # highest score first, ties by lower index (ONNX Runtime's priority queue order)
    order = candidates[torch.argsort(-scores[candidates], stable=True)]
    b = boxes[order].to(torch.float32)
    x1 = torch.minimum(b[:, 0], b[:, 2]); x2 = torch.maximum(b[:, 0], b[:, 2])  # noqa: E702
    y1 = torch.minimum(b[:, 1], b[:, 3]); y2 = torch.maximum(b[:, 1], b[:, 3])  # noqa: E702
    area = (x2 - x1) * (y2 - y1)
    inter_w = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp(min=0)
    inter_h = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp(min=0)
    inter = inter_w * inter_h
    union = area[:, None] + area[None] - inter
    valid = (area[:, None] > 0) & (area[None] > 0) & (union > 0)
    overlaps = valid & (inter > iou_threshold * union)  # inter / union > thr without dividing by 0
    suppressed = torch.zeros(order.numel(), dtype=torch.bool)
    keep: list[int] = []
    for i in range(order.numel()):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) >= max_output:
            break
        suppressed |= overlaps[i]
    return order[torch.tensor(keep, dtype=torch.int64)]


class NonMaxSuppressionFunction(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (center_point_box = 0) for one batch and one class.

    Inputs: boxes [1, K, 4] (any diagonal corner pair, here xyxy), scores [1, 1, K], max_output [1]
    int64, iou_threshold [1] float32, score_threshold [1] float32. Output: [S, 3] int64
    (batch, class, box index), S <= max_output, in selection order.
    """

    @staticmethod
    def forward(ctx, boxes: torch.Tensor, scores: torch.Tensor, max_output: torch.Tensor,  # type: ignore[override]
                iou_threshold: torch.Tensor, score_threshold: torch.Tensor) -> torch.Tensor:
        keep = greedy_nms(boxes[0], scores[0, 0], float(iou_threshold), float(score_threshold), int(max_output))
        zeros = torch.zeros_like(keep)
        return torch.stack((zeros, zeros, keep), dim=1)

    @staticmethod
    def symbolic(g, boxes, scores, max_output, iou_threshold, score_threshold):  # type: ignore[no-untyped-def]
        return g.op("NonMaxSuppression", boxes, scores, max_output, iou_threshold, score_threshold,
                    center_point_box_i=0)


class DetectionTail(nn.Module):
    """Decoded predictions + embedding map -> fixed-size detections (see the module docstring)."""

    def __init__(self, options: TailOptions, embedding_stride: int) -> None:
        super().__init__()
        self.options = options
        self.embedding_stride = int(embedding_stride)

    def forward(self, decoded: torch.Tensor, embedding_map: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """decoded [1, N, 4 + nc], embedding_map [1, E, h, w] -> boxes, scores, embeddings, count."""
        boxes, scores, mask, count = self.select(decoded)
        _, dim, height, width = (int(v) for v in embedding_map.shape)
        rows, cols = self.cells(boxes, height, width)
        vectors = embedding_map[0].reshape(dim, height * width).index_select(1, rows * width + cols).transpose(0, 1)
        return boxes, scores, l2_normalise(vectors) * mask.unsqueeze(1), count

    def select(self, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """decoded [1, N, 4 + nc] -> kept boxes [max_det, 4], scores [max_det], row mask [max_det], count [1]."""
        opt = self.options
        boxes = decoded[0, :, :4]
        scores = decoded[0, :, 4] if decoded.shape[-1] == 5 else decoded[0, :, 4:].amax(dim=-1)
        k = min(opt.top_k, int(decoded.shape[1]))
        top_scores, top_index = torch.topk(scores, k)
        candidates = boxes.index_select(0, top_index)
        selected = NonMaxSuppressionFunction.apply(
            candidates.unsqueeze(0), top_scores.view(1, 1, k),
            torch.tensor([opt.max_det], dtype=torch.int64),
            torch.tensor([opt.iou_threshold], dtype=torch.float32),
            torch.tensor([opt.score_threshold], dtype=torch.float32))
        # pad to max_det without reading the data-dependent length: -1 marks an empty row
        padded = torch.cat((selected[:, 2], torch.full((opt.max_det,), -1, dtype=torch.int64)))[:opt.max_det]
        valid = padded >= 0
        index = padded.clamp(min=0)
        kept_scores = torch.where(valid, top_scores.index_select(0, index), torch.full_like(index, -1.0,
                                                                                           dtype=top_scores.dtype))
        # NMS output order is backend-defined (TensorRT's differs): order rows by score explicitly
        order = torch.topk(kept_scores, opt.max_det).indices
        index, valid = index.index_select(0, order), valid.index_select(0, order)
        mask = valid.to(decoded.dtype)
        kept_boxes = candidates.index_select(0, index) * mask.unsqueeze(1)
        kept_scores = top_scores.index_select(0, index) * mask
        count = valid.to(torch.int64).sum().reshape(1)
        return kept_boxes, kept_scores, mask, count

    def cells(self, boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The embedding-map cell (row, column) of each box centre, floor(c / stride) clamped to the map:
        boxes [M, 4] -> two int64 [M]."""
        stride = float(self.embedding_stride)
        cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
        cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
        cols = torch.floor(cx / stride).clamp(0, width - 1).to(torch.int64)
        rows = torch.floor(cy / stride).clamp(0, height - 1).to(torch.int64)
        return rows, cols


def l2_normalise(vectors: torch.Tensor) -> torch.Tensor:
    """[M, E] -> rows of unit length (an all-zero row stays zero)."""
    norm = vectors.pow(2).sum(dim=1, keepdim=True).sqrt().clamp(min=1e-12)
    return vectors / norm


class EndToEndModel(nn.Module):
    """CSTrack + :class:`DetectionTail`: images [1, 3, H, W] -> boxes, scores, embeddings, count.

    ``embedding_head``: ``"sparse"`` (default) computes SAAN's last two convolutions at the kept boxes'
    cells only (:meth:`~mottrack_training.model.saan.ScaleAwareAttention.embeddings_at`; the same
    vectors as the full map, up to float rounding); ``"dense"`` computes the whole stride-8 embedding
    map and gathers from it.
    """

    output_names = ("boxes", "scores", "embeddings", "count")

    def __init__(self, network: nn.Module, options: TailOptions, embedding_head: str = "sparse") -> None:
        super().__init__()
        _require_single_embedding_map(network)
        check_embedding_head(embedding_head)
        self.network = network
        self.embedding_head = embedding_head
        self.tail = DetectionTail(options, network.embedding_strides[0])

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.embedding_head == "dense":
            decoded, embedding_map = self.network(images, decode=True)
            return self.tail(decoded, embedding_map)
        raw, reid_features = self.network.raw_and_reid_features(images)
        boxes, scores, mask, count = self.tail.select(self.network.detect.decode(raw))
        finest = reid_features[0]  # SAAN's output grid is the finest level's
        rows, cols = self.tail.cells(boxes, int(finest.shape[2]), int(finest.shape[3]))
        embeddings = l2_normalise(self.network.saan(reid_features, rows, cols)) * mask.unsqueeze(1)
        return boxes, scores, embeddings, count


class RawHeadsModel(nn.Module):
    """CSTrack without the tail: images -> predictions [B, N, 4 + nc] (decoded), embedding_map [B, E, h, w].

    The host runs score threshold, NMS and the embedding gather (the fallback layout)."""

    output_names = ("predictions", "embedding_map")

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        _require_single_embedding_map(network)
        self.network = network

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        decoded, embedding_map = self.network(images, decode=True)
        return decoded, embedding_map


def _require_single_embedding_map(network: nn.Module) -> None:
    if len(getattr(network, "embedding_strides", ())) != 1 or getattr(network, "saan", None) is None:
        raise ValueError("export needs a CSTrack model with SAAN (one embedding map, stride 8); "
                         f"this one has embedding strides {getattr(network, 'embedding_strides', None)}")

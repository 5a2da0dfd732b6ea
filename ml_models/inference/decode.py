"""Decoding the detector head into boxes, and non-maximum suppression."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import nms


@dataclass(frozen=True)
class Detections:
    """Detections of one image, boxes in pixels of the original image, score-descending,
    on the CPU."""

    boxes: torch.Tensor  # (N, 4) float, x1 y1 x2 y2
    scores: torch.Tensor  # (N,)
    labels: torch.Tensor  # (N,) int64 class index


def cell_centres(
    height: int, width: int, stride: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input-pixel coordinates (x, y) of the centres of the output cells, each (H, W)."""
    ys = torch.arange(height, device=device, dtype=torch.float32) * stride + stride / 2
    xs = torch.arange(width, device=device, dtype=torch.float32) * stride + stride / 2
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_x, grid_y


def distances_to_boxes(distances: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, 4, H, W) distances (l, t, r, b) to (B, 4, H, W) boxes (x1, y1, x2, y2)."""
    _, _, height, width = distances.shape
    grid_x, grid_y = cell_centres(height, width, stride, distances.device)
    return torch.stack(
        [
            grid_x - distances[:, 0],
            grid_y - distances[:, 1],
            grid_x + distances[:, 2],
            grid_y + distances[:, 3],
        ],
        dim=1,
    )


# The box regression predicts softplus-activated distances in units of this many strides.
BOX_UNIT_STRIDES = 4


def distances_from_logits(box_logits: torch.Tensor, stride: int) -> torch.Tensor:
    """The network's raw box regression to distances in input pixels (always positive).

    Inference applies it only to the few cells that decoding reads, training to all.
    """
    return F.softplus(box_logits.float()) * (stride * BOX_UNIT_STRIDES)  # pylint: disable=not-callable


def max_filter_3x3(maps: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(maps, 3, stride=1, padding=1)``, exactly, as two separable passes of
    element-wise maxima: 2-3x faster on CPU for channels_last maps (measured in bf16 and
    fp32 on the 2-core machine), where max_pool2d handles stride 1 poorly."""
    padded = F.pad(maps, (1, 1, 1, 1), value=float("-inf"))
    rows = torch.maximum(torch.maximum(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])
    return torch.maximum(torch.maximum(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def heatmap_peaks(heatmap_logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (float32) kept only at 3x3 local maxima, zero elsewhere."""
    heat = torch.sigmoid(heatmap_logits.float())
    return heat * (max_filter_3x3(heat) == heat)


# Peaks decoded per image: more than any scene of SPEC.md holds.
TOP_K = 100


def top_peaks(peaks: torch.Tensor, k: int = TOP_K) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` strongest of each image's peaks (B, C, H, W): scores and flat indices
    into C x H x W, (B, k) each, score-descending."""
    batch, classes, height, width = peaks.shape
    scores, index = peaks.reshape(batch, -1).topk(min(k, classes * height * width), dim=1)
    return scores, index


def decode(  # pylint: disable=too-many-locals,too-many-arguments
    heatmap_logits: torch.Tensor | None,
    distances: torch.Tensor | None,
    *,
    stride: int,
    scales: list[float],
    sizes: list[tuple[int, int]],
    score_threshold: float = 0.05,
    top_k: int = TOP_K,
    iou_threshold: float = 0.6,
    peaks: torch.Tensor | None = None,
    box_logits: torch.Tensor | None = None,
    top: dict[str, torch.Tensor] | None = None,
) -> list[Detections]:
    """Peaks of the class heatmaps become boxes; NMS per class removes duplicates.

    ``scales[i]`` is model pixels per original pixel of image ``i`` (letterbox anchored
    top-left), ``sizes[i]`` its (width, height) for clipping. ``peaks``: the output of
    ``heatmap_peaks`` when the network already computed it (then the logits are unused).
    Boxes come from ``distances`` in input pixels or, cheaper, from the network's raw
    ``box_logits``, turned into distances (``distances_from_logits``) only where read, or
    from ``top``: the network's own ``top_scores``, ``top_index`` and ``top_box_logits``
    (``network.ShapeNet.forward`` at inference), which already hold the peaks and their
    box logits (``peaks`` then only gives the maps' shape). The whole batch is decoded
    and suppressed at once, on the maps' device, and comes back to the CPU in one
    transfer.
    """
    if peaks is None:
        if heatmap_logits is None:
            raise ValueError("decode needs heatmap logits or their peaks")
        peaks = heatmap_peaks(heatmap_logits)
    batch, classes, height, width = peaks.shape
    cells_per_map = height * width
    if top is not None:
        scores, flat = top["top_scores"], top["top_index"]
        dist = distances_from_logits(top["top_box_logits"].transpose(1, 2), stride)
    else:
        scores, flat = top_peaks(peaks, top_k)
        dist = _gathered_distances(flat, cells_per_map, distances, box_logits, stride)
    cells = flat % cells_per_map
    labels_all = torch.div(flat, cells_per_map, rounding_mode="floor")
    centre_x = (cells % width).float() * stride + stride / 2
    centre_y = torch.div(cells, width, rounding_mode="floor").float() * stride + stride / 2
    boxes_all = torch.stack(
        [
            centre_x - dist[:, 0],
            centre_y - dist[:, 1],
            centre_x + dist[:, 2],
            centre_y + dist[:, 3],
        ],
        dim=2,
    )  # (B, k, 4)
    scale = torch.tensor(scales, dtype=torch.float32, device=boxes_all.device).view(batch, 1, 1)
    limits = torch.tensor(sizes, dtype=torch.float32, device=boxes_all.device).repeat(1, 2)
    boxes_all = torch.minimum((boxes_all / scale).clamp(min=0), limits.view(batch, 1, 4))
    keep = (
        (scores >= score_threshold)
        & (boxes_all[..., 2] > boxes_all[..., 0])
        & (boxes_all[..., 3] > boxes_all[..., 1])
    )
    image = torch.arange(batch, device=scores.device).view(batch, 1).expand_as(scores)[keep]
    boxes, score, label = boxes_all[keep], scores[keep], labels_all[keep]
    kept = grouped_nms(boxes, score, image * classes + label, iou_threshold)
    # score-descending within each image, images in order; one transfer for the batch
    kept = kept[torch.sort(image[kept], stable=True).indices]
    counts = torch.bincount(image[kept], minlength=batch).tolist()
    return [
        Detections(boxes=b, scores=s, labels=lab)
        for b, s, lab in zip(
            torch.split(boxes[kept].cpu(), counts),
            torch.split(score[kept].cpu(), counts),
            torch.split(label[kept].cpu(), counts),
            strict=True,
        )
    ]


def _gathered_distances(
    flat: torch.Tensor,
    cells_per_map: int,
    distances: torch.Tensor | None,
    box_logits: torch.Tensor | None,
    stride: int,
) -> torch.Tensor:
    """(B, 4, k) distances of the peaks at ``flat`` (B, k), gathered in place from dense
    ``distances`` or ``box_logits``: with one regression per class (4C channels,
    class-major) each peak reads its own class's four channels."""
    regression = distances if box_logits is None else box_logits
    if regression is None:
        raise ValueError("decode needs box distances, box logits or the network's top peaks")
    batch, k = flat.shape
    cells = flat % cells_per_map
    labels = torch.div(flat, cells_per_map, rounding_mode="floor")
    first = labels * (4 * cells_per_map) + cells if regression.shape[1] > 4 else cells
    channel = torch.arange(4, device=cells.device).view(1, 4, 1) * cells_per_map
    index = (first.unsqueeze(1) + channel).reshape(batch, -1)
    dist = regression.reshape(batch, -1).gather(1, index).reshape(batch, 4, k).float()
    return distances_from_logits(dist, stride) if box_logits is not None else dist


def grouped_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Indices of the boxes NMS keeps within each group, by decreasing score.

    One ``nms`` call for a whole batch (groups = image x class): each group is shifted
    to its own region, in float64 so that thousands of groups cannot blur the overlaps.
    torchvision's ``batched_nms`` shifts in the boxes' dtype and falls back to one call
    per group above 4,000 box coordinates on CPU (20,000 on CUDA), i.e. at large batches.
    Boxes must not be negative (decoding clips them to the image).
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    span = boxes.max().double() + 1
    shifted = boxes.double() + (groups.double() * span).unsqueeze(1)
    kept: torch.Tensor = nms(shifted, scores.double(), iou_threshold)
    return kept

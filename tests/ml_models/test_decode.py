"""Decoding the detector head and NMS, on hand-built tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import nms

from ml_models.inference.decode import (
    cell_centres,
    decode,
    distances_from_logits,
    heatmap_peaks,
    max_filter_3x3,
    ranked_nms,
)
from ml_models.training.data import encode_targets

STRIDE = 4


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _empty(classes: int = 3, size: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    heat = torch.full((1, classes, size, size), -20.0)
    dist = torch.zeros((1, 4, size, size))
    return heat, dist


def test_peak_becomes_box_in_original_pixels() -> None:
    heat, dist = _empty()
    heat[0, 2, 5, 7] = _logit(0.9)
    # cell (7, 5) has its centre at (30, 22) model pixels
    dist[0, :, 5, 7] = torch.tensor([10.0, 6.0, 20.0, 8.0])
    det = decode(heat, dist, stride=STRIDE, scales=[0.5], sizes=[(200, 200)])[0]
    assert det.labels.tolist() == [2]
    assert abs(float(det.scores[0]) - 0.9) < 1e-5
    # model box (20, 16, 50, 30) at 0.5 model pixels per image pixel
    assert det.boxes[0].tolist() == [40.0, 32.0, 100.0, 60.0]


def test_boxes_are_clipped_to_the_image() -> None:
    heat, dist = _empty()
    heat[0, 0, 1, 1] = _logit(0.8)
    dist[0, :, 1, 1] = torch.tensor([50.0, 50.0, 5.0, 5.0])
    det = decode(heat, dist, stride=STRIDE, scales=[1.0], sizes=[(60, 40)])[0]
    assert det.boxes[0].tolist() == [0.0, 0.0, 11.0, 11.0]


def test_threshold_and_score_order() -> None:
    heat, dist = _empty()
    dist[:] = 4.0
    for (y, x), p in {(2, 2): 0.3, (10, 10): 0.95, (15, 4): 0.04, (6, 16): 0.6}.items():
        heat[0, 1, y, x] = _logit(p)
    det = decode(heat, dist, stride=STRIDE, scales=[1.0], sizes=[(80, 80)], score_threshold=0.05)[0]
    assert [round(s, 2) for s in det.scores.tolist()] == [0.95, 0.6, 0.3]


def test_neighbouring_cells_are_not_double_counted() -> None:
    heat, dist = _empty()
    dist[:] = 8.0
    heat[0, 0, 5, 5] = _logit(0.9)
    heat[0, 0, 5, 6] = _logit(0.7)  # not a local maximum: suppressed by the 3x3 peak test
    det = decode(heat, dist, stride=STRIDE, scales=[1.0], sizes=[(80, 80)])[0]
    assert len(det.scores) == 1


def test_nms_removes_overlapping_duplicates_of_one_class_only() -> None:
    heat, dist = _empty()
    dist[:] = 20.0  # 40 px boxes: peaks 2 cells apart overlap with IoU 0.67
    heat[0, 0, 5, 5] = _logit(0.9)
    heat[0, 0, 5, 7] = _logit(0.8)  # same class, overlapping: removed
    heat[0, 1, 5, 7] = _logit(0.7)  # other class, same place: kept
    det = decode(heat, dist, stride=STRIDE, scales=[1.0], sizes=[(80, 80)], iou_threshold=0.5)[0]
    assert det.labels.tolist() == [0, 1]


def _decoded_targets(heatmap: np.ndarray, reg_target: np.ndarray) -> list[tuple[int, list[float]]]:
    """Decode perfect predictions made from encoded targets (shared or per class), as
    sorted (label, box) pairs: encoding then decoding must give the boxes back."""
    grid_x, grid_y = cell_centres(80, 80, STRIDE, torch.device("cpu"))
    target = torch.from_numpy(reg_target)  # (4, F, F), or (C, 4, F, F) per class
    target = target.reshape(-1, 4, 80, 80)
    dist = torch.stack(
        [
            grid_x - target[:, 0],
            grid_y - target[:, 1],
            target[:, 2] - grid_x,
            target[:, 3] - grid_y,
        ],
        dim=1,
    ).reshape(-1, 80, 80)
    logits = torch.logit(torch.from_numpy(heatmap).clamp(1e-6, 1 - 1e-6))
    det = decode(
        logits[None],
        dist[None],
        stride=STRIDE,
        scales=[1.0],
        sizes=[(320, 320)],
        score_threshold=0.5,
    )[0]
    return sorted(zip(det.labels.tolist(), det.boxes.tolist(), strict=True))


def test_targets_decode_back_to_the_boxes() -> None:
    boxes = np.array([[10, 20, 110, 60], [200, 200, 214, 230], [50, 50, 90, 90]], dtype=np.float32)
    heatmap, reg_target, reg_weight = encode_targets(
        boxes, np.array([1, 3, 0]), num_classes=8, size=320, stride=STRIDE
    )
    assert reg_weight.sum() > 0
    assert _decoded_targets(heatmap, reg_target) == [
        (0, [50.0, 50.0, 90.0, 90.0]),
        (1, [10.0, 20.0, 110.0, 60.0]),
        (3, [200.0, 200.0, 214.0, 230.0]),
    ]


def test_objects_sharing_a_centre_keep_their_own_boxes_with_per_class_regression() -> None:
    # A traffic light's housing (rectangle) and its middle lamp (circle) share a centre.
    boxes = np.array([[140, 60, 180, 260], [146, 146, 174, 174]], dtype=np.float32)
    labels = np.array([4, 0])
    _, shared_target, _ = encode_targets(boxes, labels, num_classes=8, size=320, stride=STRIDE)
    heatmap, reg_target, reg_weight = encode_targets(
        boxes, labels, num_classes=8, size=320, stride=STRIDE, box_per_class=True
    )
    assert reg_target.shape == (8, 4, 80, 80) and reg_weight.shape == (8, 80, 80)
    centre = (40, 40)  # cell (x 40, y 40): both boxes are centred at (160, 160)
    assert shared_target[:, centre[1], centre[0]].tolist() == [146, 146, 174, 174]  # lamp won
    assert reg_target[4, :, centre[1], centre[0]].tolist() == [140, 60, 180, 260]
    assert reg_target[0, :, centre[1], centre[0]].tolist() == [146, 146, 174, 174]

    found = _decoded_targets(heatmap, reg_target)
    assert found == [(0, [146.0, 146.0, 174.0, 174.0]), (4, [140.0, 60.0, 180.0, 260.0])]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_max_filter_equals_max_pool(dtype: torch.dtype) -> None:
    torch.manual_seed(3)
    maps = torch.randn(2, 5, 17, 23).to(dtype)
    maps[0, 0, 4:7, 4:7] = 1.0  # a plateau: ties must survive as in max_pool2d
    for layout in (torch.contiguous_format, torch.channels_last):
        shaped = maps.contiguous(memory_format=layout)
        expected = F.max_pool2d(shaped, kernel_size=3, stride=1, padding=1)
        assert torch.equal(max_filter_3x3(shaped), expected)


def test_peaks_are_the_local_maxima() -> None:
    heat = torch.full((1, 1, 6, 6), -5.0)
    heat[0, 0, 1, 1], heat[0, 0, 1, 2], heat[0, 0, 4, 4] = 2.0, 1.0, 0.5
    peaks = heatmap_peaks(heat)
    assert peaks.dtype == torch.float32
    assert torch.nonzero(peaks > 0.5).tolist() == [[0, 0, 1, 1], [0, 0, 4, 4]]
    assert peaks[0, 0, 1, 1] == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item())


def test_box_logits_decode_like_the_distances_they_stand_for() -> None:
    heat, _ = _empty()
    heat[0, 1, 10, 10] = _logit(0.9)  # cell centre (42, 42)
    box_logits = torch.randn(1, 4, 20, 20) * 0.5 - 1.0  # distances of a few pixels to ~25
    kwargs: dict[str, Any] = {"stride": STRIDE, "scales": [1.0], "sizes": [(200, 200)]}
    dense = decode(heat, distances_from_logits(box_logits, STRIDE), **kwargs)[0]
    lazy = decode(heat, None, box_logits=box_logits, **kwargs)[0]
    torch.testing.assert_close(lazy.boxes, dense.boxes)
    expected = distances_from_logits(box_logits[0, :, 10, 10], STRIDE) / (4 * STRIDE)
    torch.testing.assert_close(expected, torch.log1p(torch.exp(box_logits[0, :, 10, 10])))
    left, top, right, bottom = (expected * 4 * STRIDE).tolist()
    assert lazy.boxes[0].tolist() == pytest.approx(
        [42 - left, 42 - top, 42 + right, 42 + bottom], abs=1e-4
    )
    with pytest.raises(ValueError, match="box distances, box logits"):
        decode(heat, None, **kwargs)


def test_a_batch_decodes_as_its_images_would_alone() -> None:
    """Decoding and NMS run over the whole batch at once; each image keeps exactly what
    decoding it alone keeps, an image without detections included."""
    torch.manual_seed(5)
    heat = torch.full((4, 3, 20, 20), -20.0)
    for b in (0, 1, 3):  # image 2 has nothing above the threshold
        heat[b] = torch.randn(3, 20, 20) * 2 - 2
    box_logits = torch.randn(4, 12, 20, 20)
    scales, sizes = [0.5, 1.0, 2.0, 0.8], [(160, 160), (80, 60), (40, 40), (100, 90)]
    together = decode(heat, None, box_logits=box_logits, stride=STRIDE, scales=scales, sizes=sizes)
    assert len(together) == 4 and len(together[2].scores) == 0
    for i, det in enumerate(together):
        alone = decode(
            heat[i : i + 1],
            None,
            box_logits=box_logits[i : i + 1],
            stride=STRIDE,
            scales=scales[i : i + 1],
            sizes=sizes[i : i + 1],
        )[0]
        assert det.boxes.device.type == "cpu"
        assert torch.equal(det.labels, alone.labels)
        torch.testing.assert_close(det.boxes, alone.boxes)
        torch.testing.assert_close(det.scores, alone.scores)
        assert det.scores.tolist() == sorted(det.scores.tolist(), reverse=True)
    assert sum(len(d.scores) for d in together) > 20


def test_ranked_nms_keeps_what_torchvision_keeps_per_image_and_class() -> None:
    """Greedy NMS of a whole batch at once equals torchvision's ``nms`` run on each
    image's valid boxes of each class, in score order: crowded boxes, chains of
    suppression (a box suppressed only by one that is itself suppressed) and invalid
    boxes that must neither be kept nor suppress."""
    generator = torch.Generator().manual_seed(3)
    batch, count = 6, 60
    corners = torch.rand(batch, count, 2, generator=generator) * 60
    sizes = torch.rand(batch, count, 2, generator=generator) * 30 + 2
    boxes = torch.cat([corners, corners + sizes], dim=2)
    # a chain in image 0: each box overlaps the next by IoU 0.54, the one after by 0.25
    boxes[0, :5] = torch.tensor([[3.0 * i, 0, 3 * i + 10, 10] for i in range(5)])
    labels = torch.randint(0, 3, (batch, count), generator=generator)
    labels[0, :5] = 0  # 1 goes, so 2 stays although 1 overlaps it; 3 goes, 4 stays
    valid = torch.rand(batch, count, generator=generator) > 0.2
    valid[0, :5] = True
    valid[5] = False  # an image with nothing
    kept = ranked_nms(boxes, labels, valid, 0.5)
    scores = torch.linspace(1.0, 0.1, count)  # rank order
    for image in range(batch):
        expected = torch.zeros(count, dtype=torch.bool)
        for label in range(3):
            members = torch.nonzero(valid[image] & (labels[image] == label)).flatten()
            if len(members):
                expected[members[nms(boxes[image, members], scores[members], 0.5)]] = True
        assert torch.equal(kept[image], expected), image
    assert kept[0, :5].tolist() == [True, False, True, False, True]
    assert not kept[5].any() and 0 < int(kept.sum()) < int(valid.sum())

"""Losses of the shared network: centre focal loss, GIoU box loss, scene cross-entropy."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss

from ml_models.inference.decode import distances_to_boxes


def centre_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres.

    ``mask`` (B,) selects the images that carry box labels.
    """
    logits = logits.float()
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg_weight = (1 - target).pow(4)
    # pylint: disable=not-callable
    log_p = F.logsigmoid(logits).clamp(min=math.log(1e-4))
    log_1p = F.logsigmoid(-logits).clamp(min=math.log(1e-4))
    # pylint: enable=not-callable
    pos_loss = log_p * (1 - pred).pow(2) * pos
    neg_loss = log_1p * pred.pow(2) * neg_weight * (1 - pos)
    per_image = -(pos_loss + neg_loss).sum(dim=(1, 2, 3)) * mask.float()
    num_pos = (pos.sum(dim=(1, 2, 3)) * mask.float()).sum().clamp(min=1.0)
    return per_image.sum() / num_pos


def box_giou_loss(
    distances: torch.Tensor, reg_target: torch.Tensor, reg_weight: torch.Tensor, stride: int
) -> torch.Tensor:
    """Gaussian-weighted GIoU loss over the cells that regress a box (TTFNet)."""
    weight = reg_weight.flatten()
    cells = weight > 0
    if not bool(cells.any()):
        return distances.sum() * 0.0
    pred = distances_to_boxes(distances.float(), stride).permute(0, 2, 3, 1).reshape(-1, 4)[cells]
    target = reg_target.permute(0, 2, 3, 1).reshape(-1, 4)[cells]
    loss: torch.Tensor = generalized_box_iou_loss(pred, target, reduction="none")
    return (loss * weight[cells]).sum() / weight[cells].sum().clamp(min=1e-6)

"""The shared-backbone network: one timm backbone, a detection head and a scene head.

The detector head is anchor-free in the CenterNet/TTFNet style: a per-class centre
heatmap at stride 4 and, at every output cell, the distances (left, top, right, bottom)
from the cell to the sides of the box centred there. The scene head reads the deepest
backbone features together with the detector's pooled class heatmaps, so the scene
classifier knows which primitives were found (a small "system of models" at no extra
backbone cost).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast

import timm
import torch
import torch.nn.functional as F
from torch import nn

from ml_models.inference.decode import TOP_K, heatmap_peaks, top_peaks

DEFAULT_BACKBONE = "resnet10t"
DEFAULT_BACKBONE_KWARGS: dict[str, Any] = {"channels": [32, 64, 128, 256], "stem_width": 24}


@dataclass
class NetworkConfig:  # pylint: disable=too-many-instance-attributes
    """Everything needed to rebuild the network (stored in the weights' card)."""

    backbone: str = DEFAULT_BACKBONE
    backbone_kwargs: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_BACKBONE_KWARGS))
    object_classes: list[str] = field(default_factory=list)
    scene_classes: list[str] = field(default_factory=list)
    input_size: int = 320
    neck_channels: int = 48
    head_channels: int = 32
    stride: int = 4
    # one box regression per object class (4 x C channels) instead of one shared (4)
    box_per_class: bool = False
    # depthwise 3x3 + pointwise 1x1 convolutions instead of dense 3x3 ones at stride 4
    separable_head: bool = False
    # the same for the neck's coarser smoothing layers (stride 8 and 16)
    separable_neck: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        known = set(cls.__dataclass_fields__)  # pylint: disable=no-member
        return cls(**{k: v for k, v in data.items() if k in known})


def _conv_bn(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _separable_bn(cin: int, cout: int) -> nn.Sequential:
    """``_conv_bn(cin, cout, 3)`` as a depthwise 3x3 and a pointwise 1x1 convolution."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _at_cells(layers: nn.Sequential, features: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """``layers(features)`` (a 3x3 convolution, then 1x1 layers) at ``cells`` only.

    ``features`` is (B, C, H, W) and ``cells`` (B, K) flat indices into H x W; the result
    is (B, K, outputs). Each cell's zero-padded 3x3 neighbourhood is gathered and the
    first convolution is applied to it without padding, which gives the value the dense
    convolution has at that cell; the rest are 1x1 layers and run on the (B*K, C) column
    as matrix products (``_cellwise``). The neighbourhoods are rows of the channels_last
    map picked by ``index_select``, the ones beyond the border zeroed: padding the whole
    map and indexing it with three index tensors, as before, took 2.1-2.9 ms per batch
    of 8 at stride 4 on the 2-core machine, where this takes 0.6-1.2 ms.
    """
    batch, channels, height, width = features.shape
    offsets = torch.arange(-1, 2, device=cells.device)
    rows = torch.div(cells, width, rounding_mode="floor")[..., None, None] + offsets.view(3, 1)
    cols = (cells % width)[..., None, None] + offsets.view(1, 3)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)  # (B, K, 3, 3)
    images = torch.arange(batch, device=cells.device).view(batch, 1, 1, 1)
    flat = (images * height + rows.clamp(0, height - 1)) * width + cols.clamp(0, width - 1)
    pixels = features.permute(0, 2, 3, 1).reshape(-1, channels)  # channels_last: a view
    patches = pixels.index_select(0, flat.reshape(-1)) * inside.reshape(-1, 1).to(pixels.dtype)
    patches = patches.view(-1, 3, 3, channels).permute(0, 3, 1, 2)  # (B*K, C, 3, 3)
    first = cast("nn.Sequential", layers[0])
    conv = cast("nn.Conv2d", first[0])
    column = F.conv2d(patches, conv.weight, conv.bias, groups=conv.groups)  # pylint: disable=not-callable
    column = column.flatten(1)
    for layer in [*list(first)[1:], *list(layers)[1:]]:
        column = _cellwise(layer, column)
    return column.reshape(batch, cells.shape[1], -1)


def _cellwise(layer: nn.Module, column: torch.Tensor) -> torch.Tensor:
    """A 1x1 layer of a head applied to a (N, C) column of cells: a 1x1 convolution as
    a matrix product (oneDNN's convolution of N images of one pixel cost four times as
    much), the rest (activation, BatchNorm of an unfolded network) as they are."""
    if isinstance(layer, nn.Conv2d):
        return F.linear(column, layer.weight.flatten(1), layer.bias)  # pylint: disable=not-callable
    if isinstance(layer, nn.BatchNorm2d):
        return cast("torch.Tensor", layer(column[:, :, None, None])).flatten(1)
    return cast("torch.Tensor", layer(column))


def spatial_reduce(maps: torch.Tensor, reduce: str) -> torch.Tensor:
    """``maps.amax(dim=(2, 3))`` (``reduce="amax"``) or ``.sum(dim=(2, 3))``: (B, C).

    On a channels_last map torch reduces over H and W with the channels innermost one
    element at a time (0.6 ms for the (8, 8, 72, 96) peak maps of a batch on the 2-core
    CPU). Reducing runs of 8 cells x C channels first, then the 8 partial results, gives
    the same maximum (and the sum up to float rounding) in 0.02 ms.
    """
    batch, channels, height, width = maps.shape
    if (height * width) % 8 or not maps.is_contiguous(memory_format=torch.channels_last):
        return maps.amax(dim=(2, 3)) if reduce == "amax" else maps.sum(dim=(2, 3))
    runs = maps.permute(0, 2, 3, 1).reshape(batch, -1, 8 * channels)  # a view: no copy
    if reduce == "amax":
        return runs.amax(dim=1).view(batch, 8, channels).amax(dim=1)
    return runs.sum(dim=1).view(batch, 8, channels).sum(dim=1)


class ShapeNet(nn.Module):  # pylint: disable=too-many-instance-attributes
    """Backbone + FPN-like neck to stride 4 + detection head + scene head."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        kwargs = dict(config.backbone_kwargs)
        if "channels" in kwargs:
            kwargs["channels"] = tuple(kwargs["channels"])
        self.backbone = timm.create_model(
            config.backbone,
            pretrained=False,
            features_only=True,
            out_indices=(1, 2, 3, 4),
            **kwargs,
        )
        feature_info = cast("Any", self.backbone).feature_info
        chans: list[int] = list(feature_info.channels())
        reductions: list[int] = list(feature_info.reduction())
        if reductions[0] != config.stride:
            raise ValueError(
                f"backbone's first feature has stride {reductions[0]}, not {config.stride}"
            )
        # an input side divisible by the deepest stride keeps every level's grid aligned
        self.canvas_multiple = max(reductions)
        neck = config.neck_channels
        self.lateral = nn.ModuleList([nn.Conv2d(c, neck, 1) for c in chans])
        fine = _separable_bn if config.separable_head else _conv_bn  # the stride-4 layers
        coarse = _separable_bn if config.separable_neck else _conv_bn
        self.smooth = nn.ModuleList(
            [(fine if level == 0 else coarse)(neck, neck) for level in range(len(chans) - 1)]
        )
        head = config.head_channels
        n_obj = len(config.object_classes)
        heat_out = nn.Conv2d(head, n_obj, 1)
        if heat_out.bias is not None:  # prior probability 0.1, as in CenterNet
            nn.init.constant_(heat_out.bias, -2.19)
        self.heatmap = nn.Sequential(fine(neck, head), heat_out)
        box_outputs = 4 * n_obj if config.box_per_class else 4
        self.regression = nn.Sequential(fine(neck, head), nn.Conv2d(head, box_outputs, 1))
        self.scene_n = len(config.scene_classes)
        if self.scene_n:
            self.scene_proj = _conv_bn(chans[-1], 256, 1)
            self.scene_fc = nn.Sequential(
                nn.Linear(256 * 2 + 2 * n_obj, 256),
                nn.ReLU(inplace=True),
                nn.Dropout(0.2),
                nn.Linear(256, self.scene_n),
            )

    @property
    def canvas_rule(self) -> tuple[int, int]:
        """(input side, multiple) for ``preprocess.canvas_shape``: how tightly an image
        may be letterboxed for this network."""
        return self.config.input_size, self.canvas_multiple

    def forward(
        self, images: torch.Tensor, *, dense_boxes: bool | None = None
    ) -> dict[str, torch.Tensor]:
        """Return heatmap logits (B, C, H/4, W/4), their peaks (``decode.heatmap_peaks``),
        box regression logits that ``decode.distances_from_logits`` turns into distances
        in input pixels, and scene logits (B, S) when the network has a scene head.

        The box logits are dense when training (or with ``dense_boxes``): ``box_logits``
        (B, 4, H/4, W/4), or (B, 4C, H/4, W/4), class-major, with ``box_per_class``.
        Otherwise they are computed only at the ``decode.TOP_K`` strongest peaks of each
        image (``decode.top_peaks``): ``top_scores`` and ``top_index`` (B, K), and
        ``top_box_logits`` (B, K, 4), each peak's own class's.
        """
        if dense_boxes is None:
            dense_boxes = self.training
        return self.from_features(self.backbone(images), dense_boxes=dense_boxes)

    def neck(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """The stride-4 map both detection heads read, from the backbone's features."""
        top: torch.Tensor = self.lateral[-1](feats[-1])
        for level in range(len(feats) - 2, -1, -1):
            lateral = self.lateral[level](feats[level])
            top = F.interpolate(top, size=lateral.shape[-2:], mode="nearest") + lateral
            top = self.smooth[level](top)
        return top

    def from_features(
        self, feats: list[torch.Tensor], *, dense_boxes: bool
    ) -> dict[str, torch.Tensor]:
        """``forward`` after the backbone; with ``dense_boxes`` the output also holds the
        neck's stride-4 map (``neck``), which distillation compares with a teacher's."""
        top = self.neck(feats)
        heat = self.heatmap(top)
        # class probabilities at local maxima: decoding and the scene head both read them
        peaks = heatmap_peaks(heat.detach())
        out = {"heatmap": heat, "peaks": peaks}
        if dense_boxes:  # the training loss reads every cell
            out["box_logits"] = self.regression(top)
            out["neck"] = top
        else:  # decoding reads the strongest peaks' cells only
            out.update(self._peak_boxes(top, peaks))
        if self.scene_n:
            deep = self.scene_proj(feats[-1])
            pooled = torch.cat([deep.mean(dim=(2, 3)), spatial_reduce(deep, "amax")], dim=1)
            # detector evidence: strongest peak and count of confident peaks per class
            confident = peaks * (peaks > 0.2)
            evidence = torch.cat(
                [spatial_reduce(peaks, "amax"), spatial_reduce(confident, "sum") / 4.0], dim=1
            )
            out["scene"] = self.scene_fc(
                torch.cat([pooled.float(), evidence], dim=1).to(pooled.dtype)
            )
        return out

    def _peak_boxes(self, top: torch.Tensor, peaks: torch.Tensor) -> dict[str, torch.Tensor]:
        """The strongest peaks of each image and the box logits of their own class."""
        scores, index = top_peaks(peaks, TOP_K)
        cells_per_map = peaks.shape[2] * peaks.shape[3]
        logits = _at_cells(self.regression, top, index % cells_per_map)  # (B, K, 4 or 4C)
        if logits.shape[2] > 4:  # one regression per class, class-major: the peak's own
            first = torch.div(index, cells_per_map, rounding_mode="floor") * 4
            columns = first.unsqueeze(2) + torch.arange(4, device=index.device)
            logits = logits.gather(2, columns)
        return {"top_scores": scores, "top_index": index, "top_box_logits": logits}


def build_network(config: NetworkConfig) -> ShapeNet:
    """A freshly initialised network for ``config`` (never downloads weights)."""
    return ShapeNet(config)

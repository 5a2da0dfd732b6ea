"""Inference-only rewrites of a trained network that leave its outputs unchanged.

Folding each BatchNorm into the convolution before it removes one full pass over every
feature map: on this 2-core CPU the shipped network ran 20-30 % faster (bf16 and fp32),
with outputs equal to fp32 rounding. The folded copy is for inference only — it cannot
be trained or saved back as a checkpoint of the original architecture.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse as fx_fuse
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ml_models.inference.network import ShapeNet

logger = logging.getLogger(__name__)


def _fold_sequential(module: nn.Module) -> None:
    """Fold ``Conv2d, BatchNorm2d`` neighbours inside every ``nn.Sequential`` (in place)."""
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        layers = list(child)
        for i in range(len(layers) - 1):
            conv, norm = layers[i], layers[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                child[i] = fuse_conv_bn_eval(conv, norm)
                child[i + 1] = nn.Identity()


def fold_batch_norms(network: ShapeNet) -> ShapeNet:
    """An eval-mode copy of ``network`` with its BatchNorms folded into convolutions.

    The backbone is traced with torch.fx, which folds a norm only where the graph really
    feeds a convolution into it alone; a backbone that cannot be traced stays as it is.
    """
    folded = copy.deepcopy(network).eval()
    head_modules = [m for name, m in folded.named_children() if name != "backbone"]
    for module in head_modules:
        _fold_sequential(module)
    try:
        folded.backbone = fx_fuse(folded.backbone)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # any tracing failure
        logger.info("backbone %s not folded (%s)", network.config.backbone, exc)
    for param in folded.parameters():
        param.requires_grad_(False)
    return folded.to(memory_format=torch.channels_last)


def power_of_two_chunks(size: int) -> list[int]:
    """``size`` as a sum of descending powers of two (13 -> [8, 4, 1])."""
    chunks = []
    bit = 1 << max(0, size.bit_length() - 1)
    while size:
        if size >= bit:
            chunks.append(bit)
            size -= bit
        bit >>= 1
    return chunks


class CompiledForward:
    """``torch.compile`` (inductor, weights frozen) of an inference network's forward.

    Compiling fuses each convolution with its activation and vectorises pooling and
    element-wise work: measured on the 2-core CPU in bf16, the shipped network's forward
    went from 101 ms to 39 ms per 8 images. Shapes are compiled statically, so a batch is
    split into power-of-two chunks: at most log2(batch) + 1 shapes are ever compiled,
    each on first use (seconds with inductor's on-disk cache warm, about a minute cold).
    Any compilation failure falls back to the eager network for good, with a warning.
    """

    def __init__(self, network: nn.Module) -> None:
        self.network = network
        self._compiled = torch.compile(network, dynamic=False, options={"freezing": True})
        self.failed = False

    def __call__(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.failed:
            try:
                return self._run(inputs)
            except Exception:  # pylint: disable=broad-exception-caught  # inductor can fail anywhere
                logger.warning("torch.compile failed; running the eager network", exc_info=True)
                self.failed = True
        result: dict[str, torch.Tensor] = self.network(inputs)
        return result

    def _run(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs: list[dict[str, torch.Tensor]] = []
        start = 0
        for size in power_of_two_chunks(inputs.shape[0]):
            outputs.append(self._compiled(inputs[start : start + size]))
            start += size
        if len(outputs) == 1:
            return outputs[0]
        return {key: torch.cat([out[key] for out in outputs]) for key in outputs[0]}

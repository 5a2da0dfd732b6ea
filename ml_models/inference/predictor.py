"""Loading model versions once per process and running the detector + scene system.

A model version is described by plain data (``ModelSpec``) so this module never touches
the database. ``ModelRegistry`` loads each version's weights once and keeps them keyed by
version name and file; ``Analyzer`` runs the active detector and scene classifier and
returns SPEC.md's JSON fields. When both versions are heads of the same shared-backbone
weights file, one forward pass serves both.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import timm
import torch
from safetensors.torch import load_file

from ml_models.inference.decode import Detections
from ml_models.inference.network import NetworkConfig, ShapeNet, build_network
from ml_models.inference.optimize import CompiledForward, fold_batch_norms
from ml_models.inference.prefetch import prefetched
from ml_models.inference.preprocess import ModelInput, batch_images, canvas_groups, full_size
from ml_models.inference.runner import (
    NMS_IOU,
    LaunchedBatch,
    PreparedBatch,
    autocast_for,
    finish_shapenet,
    launch_shapenet,
    prepare_shapenet,
    resolve_precision,
    run_shapenet,
    side_stream,
)
from ml_models.inference.spec import ModelSpec

logger = logging.getLogger(__name__)

SCENE_TOP_K = 3


def select_device(preferred: str | None = None) -> torch.device:
    """CUDA when available (or asked for), else CPU."""
    if preferred:
        return torch.device(preferred)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file, or of a torch checkpoint loaded with weights_only."""
    if path.suffix == ".safetensors":
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def shapenet_config(spec: ModelSpec) -> NetworkConfig:
    """The network configuration of a ShapeNet spec (from its card, or its fields)."""
    data = dict(spec.card.get("network") or {})
    if not data:
        data = {"backbone": spec.architecture, "input_size": spec.input_size}
        if spec.kind == "detector":
            data["object_classes"] = list(spec.classes)
        else:
            data["scene_classes"] = list(spec.classes)
    return NetworkConfig.from_dict(data)


def load_shapenet(spec: ModelSpec) -> ShapeNet:
    """The ShapeNet of ``spec`` with its weights loaded strictly, in fp32, on the CPU, as
    trained (BatchNorms not folded)."""
    network = build_network(shapenet_config(spec))
    state = load_state(spec.weights_path)
    network.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    )
    return network


@dataclass
class LoadedModel:
    """A model in memory: a ShapeNet or a timm classifier, on its device."""

    spec: ModelSpec
    module: torch.nn.Module
    device: torch.device
    precision: str = "fp32"
    # what runs the module: itself, or a compiled version of it (``optimize.CompiledForward``)
    forward: Callable[[torch.Tensor], Any] | None = None
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)


def load_model(
    spec: ModelSpec, device: torch.device, precision: str = "fp32", *, compile_network: bool = False
) -> LoadedModel:
    """Build the module for ``spec`` and load its weights strictly, in eval mode.

    A ShapeNet is prepared for inference (BatchNorms folded) and, with
    ``compile_network``, run through ``torch.compile``.
    """
    if spec.is_shapenet or spec.kind == "detector":
        folded = fold_batch_norms(load_shapenet(spec))
        loaded = LoadedModel(spec=spec, module=folded, device=device, precision=precision)
    else:
        state = load_state(spec.weights_path)
        network = timm.create_model(
            spec.architecture, pretrained=False, num_classes=len(spec.classes)
        )
        network.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
        cfg = getattr(network, "pretrained_cfg", {}) or {}
        mean = tuple(spec.card.get("mean") or cfg.get("mean") or (0.485, 0.456, 0.406))
        std = tuple(spec.card.get("std") or cfg.get("std") or (0.229, 0.224, 0.225))
        loaded = LoadedModel(
            spec=spec, module=network, device=device, precision=precision, mean=mean, std=std
        )
    loaded.module = loaded.module.to(device).eval().to(memory_format=torch.channels_last)
    if compile_network and isinstance(loaded.module, ShapeNet):
        loaded.forward = CompiledForward(loaded.module)
    return loaded


class ModelRegistry:
    """Process-wide cache of loaded models, keyed by weights file and architecture.

    The detector and scene versions of one shared-backbone file share one module.
    ``precision`` is the compute precision (``auto``: see ``runner.resolve_precision``);
    ``compile_networks`` runs ShapeNets through ``torch.compile`` (``optimize.CompiledForward``).
    """

    def __init__(
        self,
        device: torch.device | None = None,
        precision: str = "auto",
        *,
        compile_networks: bool = False,
    ) -> None:
        self.device = device or select_device()
        self.precision = resolve_precision(self.device, precision)
        self.compile_networks = compile_networks
        self._models: dict[tuple[str, float, str, bool], LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, spec: ModelSpec) -> LoadedModel:
        """The loaded model of ``spec``, loading it on first use."""
        path = spec.weights_path
        mtime = path.stat().st_mtime if path.exists() else 0.0
        key = (str(path.resolve()), mtime, spec.architecture, spec.is_shapenet)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = load_model(
                    spec, self.device, self.precision, compile_network=self.compile_networks
                )
                self._models[key] = model
                logger.info(
                    "Loaded %s %s on %s in %s, %d torch thread(s)",
                    spec.kind,
                    spec.name,
                    self.device,
                    self.precision,
                    torch.get_num_threads(),
                )
            return model

    def clear(self) -> None:
        """Forget every loaded model (tests, or after weights change on disk)."""
        with self._lock:
            self._models.clear()


@functools.cache
def default_registry(precision: str = "auto", compile_networks: bool = False) -> ModelRegistry:
    """The registry shared by everything in this process (one per set of options)."""
    return ModelRegistry(precision=precision, compile_networks=compile_networks)


@dataclass
class ImageAnalysis:
    """SPEC.md's fields for one image (the caller adds ``file``)."""

    width: int
    height: int
    scene: dict[str, Any] | None
    objects: list[dict[str, Any]]
    models: dict[str, str | None]

    def as_dict(self, file: str | None = None) -> dict[str, Any]:
        """The SPEC.md JSON object (``file`` first when given)."""
        data: dict[str, Any] = {} if file is None else {"file": file}
        data.update(
            {
                "width": self.width,
                "height": self.height,
                "scene": self.scene,
                "objects": self.objects,
                "models": self.models,
            }
        )
        return data


def _rounded(values: torch.Tensor, places: int) -> list[Any]:
    """``values`` rounded to ``places`` decimals as Python floats, like ``round(v, places)``
    (half to even, in float64) but for a whole batch in one go."""
    scale = 10.0**places
    rounded: list[Any] = (torch.round(values.double() * scale) / scale).tolist()
    return rounded


def batch_objects(
    detections: Sequence[Detections], classes: Sequence[str]
) -> list[list[dict[str, Any]]]:
    """SPEC.md's ``objects`` of each image of a batch, score-descending (as decoded).

    The numbers are rounded and converted for the whole batch at once: per object, the
    Python work left is building its dict (a fifth of the host's time at GPU speeds went
    to rounding one number at a time).
    """
    if not detections:
        return []
    counts = [len(d.scores) for d in detections]
    boxes = _rounded(torch.cat([d.boxes for d in detections]), 1)
    scores = _rounded(torch.cat([d.scores for d in detections]), 4)
    labels = [classes[i] for i in torch.cat([d.labels for d in detections]).tolist()]
    objects = [
        {"label": label, "score": score, "box": box}
        for label, score, box in zip(labels, scores, boxes, strict=True)
    ]
    per_image: list[list[dict[str, Any]]] = []
    start = 0
    for count in counts:
        per_image.append(objects[start : start + count])
        start += count
    return per_image


def batch_scenes(probs: torch.Tensor, classes: Sequence[str]) -> list[dict[str, Any]]:
    """SPEC.md's ``scene`` of each image of a batch: the top class and the top three."""
    k = min(SCENE_TOP_K, len(classes))
    scores, indices = probs.float().topk(k, dim=1)
    scenes = []
    for row_scores, row_indices in zip(_rounded(scores, 4), indices.tolist(), strict=True):
        top = [
            {"label": classes[i], "score": score}
            for score, i in zip(row_scores, row_indices, strict=True)
        ]
        scenes.append({"label": top[0]["label"], "score": top[0]["score"], "top": top})
    return scenes


@dataclass
class _Chunk:
    """One batch of an ``Analyzer.analyze`` call on its way through the pipeline."""

    indices: list[int]  # the images' places in the call
    images: list[ModelInput]
    prepared: PreparedBatch | None = None
    launched: LaunchedBatch | None = None


class Analyzer:
    """Runs a detector version and a scene version over images, SPEC.md output."""

    def __init__(
        self,
        *,
        detector: ModelSpec | None,
        scene: ModelSpec | None,
        registry: ModelRegistry | None = None,
        score_threshold: float = 0.05,
        batch_size: int = 8,
        nms_iou: float = NMS_IOU,
    ) -> None:
        self.detector = detector
        self.scene = scene
        self.registry = registry or default_registry()
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.batch_size = batch_size

    @property
    def shared_pass(self) -> bool:
        """Both versions are heads of one ShapeNet weights file: one forward pass."""
        return (
            self.detector is not None
            and self.scene is not None
            and self.detector.is_shapenet
            and self.scene.is_shapenet
            and self.detector.weights_path.resolve() == self.scene.weights_path.resolve()
        )

    @property
    def input_size(self) -> int:
        """The largest model input side: what ``preprocess.decode_image(fit=...)`` needs."""
        return max(spec.input_size for spec in (self.detector, self.scene) if spec is not None)

    def analyze(self, images: Sequence[ModelInput]) -> list[ImageAnalysis]:
        """Analyse images: upright RGB (``preprocess.load_image``) or decoded for the
        models (``preprocess.decode_image``); boxes in pixels of the full image.

        Images are batched with others that letterbox to the same canvas (each image's
        own ``preprocess.canvas_shape``: 384x288 for a 640x480 photo), so no image pays
        for another's padding and an image's answer never depends on what it came with.
        Batches are pipelined on a GPU: a background thread copies batch i+1 over and
        letterboxes it while batch i runs, and batch i-1 is decoded and its JSON fields
        written meanwhile (each on its own stream: ``runner``). On a CPU the stages
        simply run in turn.
        """
        results: list[ImageAnalysis | None] = [None] * len(images)
        running: _Chunk | None = None
        for chunk in self._prepared(self._chunks(images)):
            launched = self._launch(chunk)
            if running is not None:
                self._store(results, running)
            running = launched
        if running is not None:
            self._store(results, running)
        if any(result is None for result in results):  # every image is in one chunk
            raise RuntimeError("an image was left out of every batch")
        return cast("list[ImageAnalysis]", results)

    def _chunks(self, images: Sequence[ModelInput]) -> list[_Chunk]:
        """Batches of at most ``batch_size`` images that share their canvas shapes."""
        # each ShapeNet's that letterboxes tightly (not compiled); one serving both heads
        # counts once
        rules: list[tuple[int, int]] = []
        for spec in (self.detector, self.scene):
            model = self.registry.get(spec) if spec is not None else None
            module = model.module if model is not None and model.forward is None else None
            if isinstance(module, ShapeNet) and module.canvas_rule not in rules:
                rules.append(module.canvas_rule)
        return [
            _Chunk(indices=part, images=[images[i] for i in part])
            for members in canvas_groups(images, rules)
            for part in (
                members[start : start + self.batch_size]
                for start in range(0, len(members), self.batch_size)
            )
        ]

    def _store(self, results: list[ImageAnalysis | None], chunk: _Chunk) -> None:
        """Write a launched chunk's analyses into their places among ``results``."""
        analyses = self._analyses(chunk.images, self._finish(chunk))
        for index, analysis in zip(chunk.indices, analyses, strict=True):
            results[index] = analysis

    def _prepared(self, chunks: list[_Chunk]) -> Iterator[_Chunk]:
        """The chunks with their detector input letterboxed on the model's device: on a
        GPU by a background thread on its own stream, one chunk ahead."""
        detector = self._detector_model()
        if detector is None:
            return iter(chunks)
        model, network = detector
        device = model.device
        stream = side_stream(device, "prepare") if device.type == "cuda" else None

        def prepare(chunk: _Chunk) -> _Chunk:
            chunk.prepared = prepare_shapenet(
                network, chunk.images, device=device, stream=stream, tight=model.forward is None
            )
            return chunk

        if stream is None:
            return (prepare(chunk) for chunk in chunks)
        return prefetched(chunks, prepare)

    def _detector_model(self) -> tuple[LoadedModel, ShapeNet] | None:
        if self.detector is None:
            return None
        model = self.registry.get(self.detector)
        if not isinstance(model.module, ShapeNet):
            raise TypeError(f"{self.detector.name}: a detector must be a ShapeNet")
        return model, model.module

    def _launch(self, chunk: _Chunk) -> _Chunk:
        """The chunk with the detector's forward pass queued."""
        detector = self._detector_model()
        if chunk.prepared is None or detector is None:
            return chunk
        model, _ = detector
        chunk.launched = launch_shapenet(
            chunk.prepared, precision=model.precision, forward=model.forward
        )
        chunk.prepared = None  # the input is no longer needed once the pass is queued
        return chunk

    def _finish(self, chunk: _Chunk) -> tuple[list[Detections] | None, torch.Tensor | None]:
        """Detections and scene probabilities of a launched chunk (waits for it)."""
        detections: list[Detections] | None = None
        scene_probs: torch.Tensor | None = None
        if chunk.launched is not None:
            output = finish_shapenet(
                chunk.launched, score_threshold=self.score_threshold, nms_iou=self.nms_iou
            )
            detections = output.detections
            if self.shared_pass:
                scene_probs = output.scene_probs
        if scene_probs is None:
            scene_probs = self._scene_probs(chunk.images)
        return detections, scene_probs

    def _analyses(
        self,
        images: list[ModelInput],
        output: tuple[list[Detections] | None, torch.Tensor | None],
    ) -> list[ImageAnalysis]:
        detections, scene_probs = output
        models = {
            "detector": self.detector.name if self.detector else None,
            "scene": self.scene.name if self.scene else None,
        }
        scenes: list[dict[str, Any] | None] = [None] * len(images)
        if scene_probs is not None and self.scene is not None:
            scenes = list(batch_scenes(scene_probs, self.scene.classes))
        objects: list[list[dict[str, Any]]] = [[] for _ in images]
        if detections is not None and self.detector is not None:
            objects = batch_objects(detections, self.detector.classes)
        results = []
        for image, scene, found in zip(images, scenes, objects, strict=True):
            width, height = full_size(image)
            results.append(
                ImageAnalysis(width=width, height=height, scene=scene, objects=found, models=models)
            )
        return results

    @torch.inference_mode()
    def _scene_probs(self, images: list[ModelInput]) -> torch.Tensor | None:
        if self.scene is None:
            return None
        model = self.registry.get(self.scene)
        if isinstance(model.module, ShapeNet):
            return run_shapenet(
                model.module,
                images,
                score_threshold=1.0,
                precision=model.precision,
                forward=model.forward,
            ).scene_probs
        batch, _ = batch_images(images, self.scene.input_size, model.device)
        mean = torch.tensor(model.mean, device=model.device).view(1, 3, 1, 1)
        std = torch.tensor(model.std, device=model.device).view(1, 3, 1, 1)
        inputs = (batch.float() / 255.0 - mean) / std
        with autocast_for(model.device, model.precision):
            logits = model.module(inputs)
        return torch.softmax(logits.float(), dim=1).cpu()

"""The worker's view of the models: images in, detections and scene scores out.

A thin adapter over ``ml_models.inference`` that resolves the active model versions'
weights, keeps one loaded analyzer per process per pair of versions, and turns the
network output into plain labelled results for the pipeline to store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from ml_models.models import ModelVersion

if TYPE_CHECKING:  # torch stays out of the web process
    from ml_models.inference.preprocess import ModelInput


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class ImageAnalysis:
    """What the models say about one image; ``objects`` sorted by score, descending."""

    objects: list[Detection]
    scene_top: list[tuple[str, float]]
    # Detections at or above this score count as present (object counts, filters).
    report_threshold: float


class ImageAnalyzer(Protocol):
    batch_size: int
    input_size: int  # the models' input side: images may be decoded down to it
    decode_threads: int  # threads that decode a batch's images

    def analyze(self, images: Sequence[ModelInput]) -> list[ImageAnalysis]: ...


class _ModelsAnalyzer:
    """Adapts ``ml_models``' analyzer to the typed results the pipeline stores."""

    def __init__(self, detector: ModelVersion, scene: ModelVersion) -> None:
        from ml_models.inference.prefetch import decode_threads
        from ml_models.services import analyzer_for_versions

        self.batch_size = settings.INFERENCE_BATCH_SIZE
        self._analyzer = analyzer_for_versions(
            detector=detector,
            scene=scene,
            score_threshold=settings.PREDICTION_STORE_THRESHOLD,
            batch_size=self.batch_size,
        )
        self.input_size = self._analyzer.input_size
        self.decode_threads = decode_threads(
            on_gpu=self._analyzer.registry.device.type != "cpu",
            requested=settings.INFERENCE_DECODE_THREADS,
        )

    def analyze(self, images: Sequence[ModelInput]) -> list[ImageAnalysis]:
        return [
            ImageAnalysis(
                objects=[
                    Detection(
                        label=str(entry["label"]),
                        score=float(entry["score"]),
                        box=(
                            float(entry["box"][0]),
                            float(entry["box"][1]),
                            float(entry["box"][2]),
                            float(entry["box"][3]),
                        ),
                    )
                    for entry in result.objects
                ],
                scene_top=[
                    (str(entry["label"]), float(entry["score"]))
                    for entry in (result.scene or {}).get("top", [])
                ],
                report_threshold=settings.OBJECT_PRESENT_THRESHOLD,
            )
            for result in self._analyzer.analyze(images)
        ]


_ANALYZERS: dict[tuple[str, str], ImageAnalyzer] = {}


def analyzer_for(*, detector: ModelVersion, scene: ModelVersion) -> ImageAnalyzer:
    """The analyzer for this pair of versions, loaded once per process."""
    key = (detector.name, scene.name)
    analyzer = _ANALYZERS.get(key)
    if analyzer is None:
        analyzer = _ModelsAnalyzer(detector, scene)
        _ANALYZERS.clear()  # one pair in memory: the active one
        _ANALYZERS[key] = analyzer
    return analyzer

"""Writes of model versions: register, activate, store metrics, train, evaluate, import.

Torch-heavy code is imported inside the functions that need it, so importing this
module (admin, API, migrations) stays cheap.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from ml_models.models import ModelVersion
from ml_models.selectors import model_version_active, model_version_spec

if TYPE_CHECKING:
    from ml_models.inference.predictor import Analyzer
    from ml_models.inference.spec import ModelSpec


def model_version_register(
    *,
    kind: str,
    name: str,
    architecture: str,
    weights_path: str,
    classes: Sequence[str],
    input_size: int,
    card: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    activate: bool = False,
) -> ModelVersion:
    """Record a set of weights as a new version (and make it the active one if asked)."""
    if kind not in ModelVersion.Kind.values:
        raise ValueError(f"unknown model kind {kind!r}")
    with transaction.atomic():
        version = ModelVersion.objects.create(
            kind=kind,
            name=name,
            architecture=architecture,
            weights_path=weights_path,
            classes=list(classes),
            input_size=input_size,
            card=card or {},
            metrics=metrics or {},
        )
        if activate:
            version = model_version_activate(version=version)
    return version


def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make ``version`` the active one of its kind; the previous one is deactivated in the
    same transaction, so there is never a moment with two (or, for others, none)."""
    with transaction.atomic():
        list(ModelVersion.objects.select_for_update().filter(kind=version.kind))  # lock the kind
        ModelVersion.objects.filter(kind=version.kind, is_active=True).exclude(
            pk=version.pk
        ).update(is_active=False)
        version.is_active = True
        version.save(update_fields=["is_active"])
    return version


def model_version_store_metrics(*, version: ModelVersion, metrics: dict[str, Any]) -> ModelVersion:
    """Merge measured metrics into the version (the latest evaluation wins per key)."""
    version.metrics = {**(version.metrics or {}), **metrics}
    version.save(update_fields=["metrics"])
    return version


def _version_name(prefix: str) -> str:
    return f"{prefix}-{datetime.now(tz=UTC):%Y%m%d-%H%M%S}"


def _relative_to_weights_dir(path: Path) -> str:
    weights_dir = Path(settings.MODEL_WEIGHTS_DIR).resolve()
    try:
        return str(path.resolve().relative_to(weights_dir))
    except ValueError:
        return str(path.resolve())


@dataclass
class TrainingData:
    """Where training examples come from: synthetic (default) or a user's labelled set."""

    coco_json: Path | None = None
    images_dir: Path | None = None
    class_folders: Path | None = None


def model_train(
    *,
    kind: str,
    data: TrainingData,
    steps: int,
    batch_size: int = 16,
    seed: int = 0,
    max_minutes: float = 0.0,
    resume: bool = False,
    run_dir: Path | None = None,
    name: str | None = None,
    activate: bool = False,
    val_every: int = 500,
    val_size: int = 200,
    progress: bool = True,
    command: str = "",
    init_from: Path | None = None,
    box_per_class: bool = False,
    separable_head: bool = False,
    separable_neck: bool = False,
    teacher: Path | None = None,
    freeze_backbone: bool = False,
    lr: float | None = None,
    clutter_rate: float = 0.0,
) -> list[ModelVersion]:
    """Train the shared-backbone network and register what it learned.

    ``kind`` "joint" (synthetic data only) registers a detector and a scene version that
    share one weights file; "detector" trains on synthetic data or a COCO file; "scene"
    on synthetic data or class folders. ``init_from`` fine-tunes from a weights file
    (the shipped one, say): every tensor whose shape fits is taken from it, and a dense
    parent's head seeds a ``separable_head`` one (its neck a ``separable_neck`` one).
    ``teacher``: a trained network's card whose neck the new one learns to reproduce
    (``train.Teacher``); ``freeze_backbone`` trains the neck and heads only.
    ``clutter_rate``: the share of synthetic images drawn in ``clutter.TRAINING_WORLD``.
    """
    from ml_models.training.data import LabelledImage
    from ml_models.training.datasets import load_class_folders, load_coco
    from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES
    from ml_models.training.train import TrainConfig, build_card, export_weights, train

    items: list[LabelledImage] | None = None
    network: dict[str, Any] = {}
    if data.coco_json is not None:
        if kind != "detector":
            raise ValueError("COCO data trains a detector: use --kind detector")
        items, classes = load_coco(data.coco_json, data.images_dir)
        network = {"object_classes": classes, "scene_classes": []}
    elif data.class_folders is not None:
        if kind != "scene":
            raise ValueError("class folders train a scene classifier: use --kind scene")
        items, classes = load_class_folders(data.class_folders)
        network = {"object_classes": list(OBJECT_CLASSES), "scene_classes": classes}
    elif kind == "detector":
        network = {"scene_classes": []}
    elif kind == "scene":
        network = {"scene_classes": list(SCENE_CLASSES)}
    elif kind != "joint":
        raise ValueError(f"unknown kind {kind!r}")
    name = name or _version_name(f"shapenet-{kind}")
    run_dir = run_dir or Path(settings.BASE_DIR) / "var" / "checkpoints" / name
    config = TrainConfig(
        run_dir=str(run_dir),
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        max_minutes=max_minutes,
        val_every=val_every,
        val_size=val_size if items is None else 0,
        network={
            **network,
            "box_per_class": box_per_class,
            "separable_head": separable_head,
            "separable_neck": separable_neck,
        },
        command=command,
        init_from=str(init_from) if init_from else "",
        teacher=str(teacher) if teacher else "",
        freeze_backbone=int(freeze_backbone),
        lr=lr or TrainConfig.lr,
        clutter_rate=clutter_rate,
    )
    result = train(config, resume=resume, items=items, progress=progress)
    weights = export_weights(
        result.network, Path(settings.MODEL_WEIGHTS_DIR) / f"{name}.safetensors"
    )
    card = build_card(result, weights_file=weights.name)
    if items is not None:
        card["training"]["data"] = str(data.coco_json or data.class_folders)
    weights.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return _register_shapenet(name=name, weights=weights, card=card, kind=kind, activate=activate)


def _register_shapenet(
    *, name: str, weights: Path, card: dict[str, Any], kind: str, activate: bool
) -> list[ModelVersion]:
    versions: list[ModelVersion] = []
    net = card["network"]
    relative = _relative_to_weights_dir(weights)
    validation = card.get("metrics", {})
    for version_kind, classes_key in (("detector", "object_classes"), ("scene", "scene_classes")):
        if kind not in {"joint", version_kind} or not net.get(classes_key):
            continue
        versions.append(
            model_version_register(
                kind=version_kind,
                name=f"{name}-{version_kind}" if kind == "joint" else name,
                architecture=net["backbone"],
                weights_path=relative,
                classes=net[classes_key],
                input_size=int(net["input_size"]),
                card=card,
                metrics=validation,
                activate=activate,
            )
        )
    return versions


def analyzer_for_versions(
    *,
    detector: ModelVersion | None,
    scene: ModelVersion | None,
    score_threshold: float = 0.05,
    batch_size: int = 8,
) -> Analyzer:
    """An analyzer over two versions, using the process-wide loaded-model registry."""
    return analyzer_for_specs(
        detector=model_version_spec(version=detector) if detector else None,
        scene=model_version_spec(version=scene) if scene else None,
        score_threshold=score_threshold,
        batch_size=batch_size,
    )


def analyzer_for_specs(
    *,
    detector: ModelSpec | None,
    scene: ModelSpec | None,
    score_threshold: float = 0.05,
    batch_size: int = 8,
) -> Analyzer:
    """``analyzer_for_versions`` for versions already described as plain data (what a
    process without the database gets)."""
    from ml_models.inference.host import configure_host
    from ml_models.inference.predictor import Analyzer, default_registry

    configure_host(threads=settings.TORCH_THREADS, heap_pad_mb=settings.INFERENCE_HEAP_PAD_MB)
    return Analyzer(
        detector=detector,
        scene=scene,
        registry=default_registry(settings.INFERENCE_PRECISION, settings.INFERENCE_COMPILE),
        score_threshold=score_threshold,
        batch_size=batch_size,
    )


def models_evaluate(
    *,
    detector: ModelVersion | None,
    scene: ModelVersion | None,
    data: TrainingData,
    count: int = 500,
    seed: int = 12345,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure versions on a fresh synthetic set (or a user's labelled set), store the
    metrics and plots on the versions, and return the report.

    Plots go to ``MEDIA_ROOT/model_metrics/<version>/``; their media-relative paths are
    recorded under ``metrics["evaluation"][...]["plot"]``.
    """
    from ml_models.training.data import LabelledImage
    from ml_models.training.datasets import load_class_folders, load_coco
    from ml_models.training.measure import EVALUATION_THRESHOLD, measure
    from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES
    from ml_models.training.train import validation_items

    object_classes: list[str] = list(detector.classes) if detector else list(OBJECT_CLASSES)
    scene_classes: list[str] = list(scene.classes) if scene else list(SCENE_CLASSES)
    items: list[LabelledImage]
    source: str
    if data.coco_json is not None:
        items, object_classes = load_coco(data.coco_json, data.images_dir)
        scene = None
        source = f"coco:{data.coco_json}"
    elif data.class_folders is not None:
        items, scene_classes = load_class_folders(data.class_folders)
        detector = None
        source = f"folders:{data.class_folders}"
    else:
        items = validation_items(seed=seed, size=count)
        object_classes, scene_classes = list(OBJECT_CLASSES), list(SCENE_CLASSES)
        source = f"synthetic:seed={seed}"
    analyzer = analyzer_for_versions(
        detector=detector, scene=scene, score_threshold=EVALUATION_THRESHOLD, batch_size=16
    )
    media_root = Path(settings.MEDIA_ROOT)
    plots_name = "-".join(v.name for v in (detector, scene) if v is not None)
    plots_dir = media_root / "model_metrics" / plots_name
    report = measure(
        analyzer,
        items,
        object_classes=object_classes,
        scene_classes=scene_classes,
        plots_dir=plots_dir,
        progress=progress,
    )
    report["source"] = source
    report["evaluated_at"] = datetime.now(tz=UTC).isoformat()
    for part in ("detection", "scene"):
        if part in report and "plot" in report[part]:
            report[part]["plot"] = str(Path(report[part]["plot"]).relative_to(media_root))
    with transaction.atomic():
        if detector is not None and "detection" in report:
            det = report["detection"]
            model_version_store_metrics(
                version=detector,
                metrics={
                    "map_50": det["map_50"],
                    "map_50_95": det["map_50_95"],
                    "evaluation": {k: v for k, v in report.items() if k != "scene"},
                },
            )
        if scene is not None and "scene" in report:
            model_version_store_metrics(
                version=scene,
                metrics={
                    "accuracy": report["scene"]["accuracy"],
                    "evaluation": {k: v for k, v in report.items() if k != "detection"},
                },
            )
    return report


def models_evaluate_robustness(
    *,
    detector: ModelVersion | None,
    scene: ModelVersion | None,
    factors: Sequence[str] = (),
    count: int | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure versions one robustness factor at a time (``training.robustness``: clutter,
    hard negatives, damage, and families training never saw), store the report on the
    versions under ``metrics["robustness"]`` and return it, factor by factor."""
    from ml_models.training import robustness
    from ml_models.training.measure import EVALUATION_THRESHOLD, measure
    from ml_models.training.synthetic import OBJECT_CLASSES, SCENE_CLASSES

    names = robustness.factor_names(factors)
    count = robustness.DEFAULT_COUNT if count is None else count
    seed = robustness.DEFAULT_SEED if seed is None else seed
    analyzer = analyzer_for_versions(
        detector=detector, scene=scene, score_threshold=EVALUATION_THRESHOLD, batch_size=16
    )
    report: dict[str, Any] = {
        "count_per_factor": count,
        "seed": seed,
        "evaluated_at": datetime.now(tz=UTC).isoformat(),
        "factors": {},
    }
    for name in names:
        report["factors"][name] = measure(
            analyzer,
            robustness.factor_items(name, count=count, seed=seed),
            object_classes=OBJECT_CLASSES,
            scene_classes=SCENE_CLASSES,
            progress=progress,
        )
    with transaction.atomic():
        for version in (detector, scene):
            if version is not None:
                model_version_store_metrics(version=version, metrics={"robustness": report})
    return report


def model_import(
    *,
    kind: str,
    architecture: str,
    weights: Path,
    classes: Sequence[str],
    name: str,
    input_size: int = 320,
    backbone_kwargs: dict[str, Any] | None = None,
    activate: bool = False,
) -> ModelVersion:
    """Register an external checkpoint as a version, after proving it loads and runs.

    ``kind`` "scene": a timm classifier ``architecture`` with ``len(classes)`` outputs.
    ``kind`` "detector": this project's detector (ShapeNet) on the timm backbone
    ``architecture``. The weights (safetensors, or a torch state dict) are loaded
    strictly — a mismatched file is refused — then copied under MODEL_WEIGHTS_DIR.
    """
    from ml_models.inference.predictor import load_model, select_device
    from ml_models.inference.spec import SHAPENET_FORMAT, ModelSpec

    if kind not in ModelVersion.Kind.values:
        raise ValueError(f"unknown model kind {kind!r}")
    card: dict[str, Any] = {
        "imported_from": str(weights),
        "imported_at": datetime.now(tz=UTC).isoformat(),
        "architecture": architecture,
        "input_size": input_size,
        "classes": list(classes),
    }
    if kind == "detector":
        card["format"] = SHAPENET_FORMAT
        card["network"] = {
            "backbone": architecture,
            "backbone_kwargs": backbone_kwargs or {},
            "object_classes": list(classes),
            "scene_classes": [],
            "input_size": input_size,
        }
    target_dir = Path(settings.MODEL_WEIGHTS_DIR) / "imported"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{name}{weights.suffix}"
    spec = ModelSpec(
        name=name,
        kind=kind,
        architecture=architecture,
        weights_path=weights,
        classes=tuple(classes),
        input_size=input_size,
        card=card,
    )
    load_model(spec, select_device("cpu"))  # raises on a mismatched file
    shutil.copyfile(weights, target)
    return model_version_register(
        kind=kind,
        name=name,
        architecture=architecture,
        weights_path=_relative_to_weights_dir(target),
        classes=classes,
        input_size=input_size,
        card=card,
        activate=activate,
    )


@dataclass
class AnalysisOutcome:
    """One input of ``images_analyze``: SPEC.md's JSON object, or the error."""

    path: str
    result: dict[str, Any] | None = None
    error: str | None = None


# Batches per ``Analyzer.analyze`` call of ``images_analyze``.
ANALYZE_WINDOW_BATCHES = 4


def images_analyze(
    *,
    paths: Sequence[str],
    score_threshold: float = 0.05,
    batch_size: int = 8,
    processes: int = 1,
) -> Iterator[AnalysisOutcome]:
    """Run the active detector and scene classifier over files, in input order.

    A file that cannot be read yields an outcome with ``error`` (naming the file); the
    rest of the batch is still analysed. With ``processes`` above one, windows of files
    are analysed side by side in that many processes (``ml_models.parallel``).
    """
    detector = model_version_active(kind=ModelVersion.Kind.DETECTOR)
    scene = model_version_active(kind=ModelVersion.Kind.SCENE)
    if detector is None and scene is None:
        raise RuntimeError("no active model versions: train, import or migrate the shipped ones")
    # Each call analyses a window of several batches: images are batched by canvas shape
    # within it (so mixed wide and tall files still fill batches) and, on a GPU, the next
    # batch is prepared while one runs.
    window = batch_size * ANALYZE_WINDOW_BATCHES
    windows = [paths[start : start + window] for start in range(0, len(paths), window)]
    detector_spec = model_version_spec(version=detector) if detector else None
    scene_spec = model_version_spec(version=scene) if scene else None
    processes = max(1, min(processes, len(windows)))
    if processes > 1:
        from ml_models.parallel import analyze_in_processes

        yield from analyze_in_processes(
            windows=windows,
            processes=processes,
            detector=detector_spec,
            scene=scene_spec,
            score_threshold=score_threshold,
            batch_size=batch_size,
        )
        return
    analyzer = analyzer_for_specs(
        detector=detector_spec,
        scene=scene_spec,
        score_threshold=score_threshold,
        batch_size=batch_size,
    )
    yield from windows_analyze(analyzer=analyzer, windows=windows)


def windows_analyze(
    *, analyzer: Analyzer, windows: Sequence[Sequence[str]]
) -> Iterator[AnalysisOutcome]:
    """``images_analyze`` of windows of files with one analyzer: the next window's files
    are read and decoded while the models run on this one."""
    from ml_models.inference.prefetch import decode_threads, mapped, prefetched
    from ml_models.inference.preprocess import ImageLoadError, decode_image
    from ml_models.inference.upright import DecodedImage

    threads = decode_threads(
        on_gpu=analyzer.registry.device.type != "cpu",
        requested=settings.INFERENCE_DECODE_THREADS,
    )

    def load_one(path: str) -> tuple[str, DecodedImage | str]:
        try:
            return path, decode_image(path, fit=analyzer.input_size)
        except ImageLoadError as error:
            return path, str(error)

    def load(chunk: Sequence[str]) -> list[tuple[str, DecodedImage | str]]:
        return mapped(load_one, chunk, threads)

    for loaded in prefetched(windows, load):
        images = [image for _, image in loaded if not isinstance(image, str)]
        results = analyzer.analyze(images) if images else []
        position = 0
        for path, image in loaded:
            if isinstance(image, str):
                yield AnalysisOutcome(path=path, error=image)
            else:
                yield AnalysisOutcome(path=path, result=results[position].as_dict(file=path))
                position += 1

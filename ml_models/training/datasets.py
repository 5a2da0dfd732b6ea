"""A user's own labelled data: COCO JSON for detection, one folder per class for scenes."""

from __future__ import annotations

import json
from pathlib import Path

from ml_models.inference.preprocess import load_image
from ml_models.training.data import LabelledImage

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_coco(
    annotations: Path, images_dir: Path | None = None
) -> tuple[list[LabelledImage], list[str]]:
    """Images and boxes of a COCO detection file; classes in category-id order.

    ``images_dir`` defaults to the JSON file's folder. Boxes refer to the image as shown
    (EXIF orientation applied), crowd annotations are skipped.
    """
    data = json.loads(annotations.read_text(encoding="utf-8"))
    root = images_dir or annotations.parent
    categories = sorted(data["categories"], key=lambda c: int(c["id"]))
    class_names = [str(c["name"]) for c in categories]
    index_of = {int(c["id"]): i for i, c in enumerate(categories)}
    by_image: dict[int, list[dict[str, object]]] = {}
    for ann in data.get("annotations", []):
        if ann.get("iscrowd"):
            continue
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    items: list[LabelledImage] = []
    for info in data["images"]:
        image = load_image(root / str(info["file_name"]))
        boxes: list[tuple[float, float, float, float]] = []
        labels: list[int] = []
        for ann in by_image.get(int(info["id"]), []):
            x, y, w, h = (float(v) for v in ann["bbox"])  # type: ignore[attr-defined]
            boxes.append((x, y, x + w, y + h))
            labels.append(index_of[int(ann["category_id"])])  # type: ignore[call-overload]
        items.append(LabelledImage(image=image, boxes=boxes, labels=labels, scene=-1))
    return items, class_names


def load_class_folders(root: Path) -> tuple[list[LabelledImage], list[str]]:
    """Images under ``root/<class name>/``; classes sorted by folder name."""
    class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    items: list[LabelledImage] = []
    for index, name in enumerate(class_names):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                items.append(
                    LabelledImage(
                        image=load_image(path), boxes=[], labels=[], scene=index, has_boxes=False
                    )
                )
    return items, class_names

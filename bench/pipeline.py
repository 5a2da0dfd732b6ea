"""End-to-end pipeline throughput and API latency (a script, not a test).

    make migrate && HF_HUB_OFFLINE=1 .venv/bin/python bench/pipeline.py [--images 96]

In one run it measures, on this machine:
1. model throughput: the active detector + scene models in-process on the same images
   (decode, preprocess, forward, decode of boxes — the worker's code path), at the
   worker's batch size;
2. pipeline throughput: the same images submitted over the REST API to a real gunicorn
   + Celery worker (started here, on their own Redis database), until every task's
   predictions are stored in the sharded table; and the ratio of the two;
3. p50/p95 latency of ``GET /api/v1/tasks/{id}/`` under 20 concurrent clients.
Stop other workers first (``make down``): two workers on two cores distort everything.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vision_site.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH_REDIS = "redis://127.0.0.1:6379/14"
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", BENCH_REDIS)

import django  # noqa: E402  # pylint: disable=wrong-import-position

django.setup()

# pylint: disable=wrong-import-position
from django.conf import settings  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import api_token_create  # noqa: E402
from ml_models.models import ModelVersion  # noqa: E402
from ml_models.training.synthetic import SceneGenerator  # noqa: E402
from predictions.analysis import analyzer_for  # noqa: E402
from predictions.client import wait_until_answering  # noqa: E402
from predictions.models import Task  # noqa: E402
from predictions.services import task_delete  # noqa: E402

BENCH_USER = "bench"


def _images(count: int) -> list[bytes]:
    generator = SceneGenerator(seed=99, min_side=480, max_side=640)
    encoded = []
    for index in range(count):
        buffer = io.BytesIO()
        generator.sample(index).image.resize((640, 480)).convert("RGB").save(
            buffer, format="JPEG", quality=90
        )
        encoded.append(buffer.getvalue())
    return encoded


def model_throughput(images: list[bytes]) -> float:
    """Images/s of the worker's model path (decode + analyze) at its batch size."""
    from ml_models.inference.preprocess import decode_image

    detector = ModelVersion.objects.get(kind="detector", is_active=True)
    scene = ModelVersion.objects.get(kind="scene", is_active=True)
    analyzer = analyzer_for(detector=detector, scene=scene)
    batch = analyzer.batch_size
    analyzer.analyze([decode_image(images[0], fit=analyzer.input_size)])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        analyzer.analyze([decode_image(data, fit=analyzer.input_size) for data in chunk])
    return len(images) / (time.perf_counter() - started)


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(  # noqa: S603 # pylint: disable=consider-using-with
            command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT, env=dict(os.environ)
        )


def pipeline_throughput(
    url: str, token: str, images: list[bytes], per_request: int
) -> tuple[float, float, list[int]]:
    """Images/s from the first upload to the last task's predictions stored, and images/s
    of the uploads alone (the worker analyses while they go on)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    task_ids: list[int] = []
    started = time.perf_counter()
    for start in range(0, len(images), per_request):
        chunk = images[start : start + per_request]
        files = [
            ("image", (f"bench-{start + i}.jpg", data, "image/jpeg"))
            for i, data in enumerate(chunk)
        ]
        response = session.post(f"{url}/api/v1/tasks/", files=files, timeout=120)
        response.raise_for_status()
        task_ids += [task["id"] for task in response.json()["tasks"]]
    uploaded = time.perf_counter() - started
    while Task.objects.filter(pk__in=task_ids, status__in=["queued", "running"]).exists():
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    failed = Task.objects.filter(pk__in=task_ids, status="failed").count()
    if failed:
        print(f"# warning: {failed} task(s) failed")
    return len(images) / elapsed, len(images) / uploaded, task_ids


def latency(url: str, token: str, task_ids: list[int], clients: int, seconds: float) -> list[float]:
    timings: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        index = offset
        mine: list[float] = []
        while time.monotonic() < stop_at:
            task_id = task_ids[index % len(task_ids)]
            index += clients
            begun = time.perf_counter()
            session.get(f"{url}/api/v1/tasks/{task_id}/", timeout=30).raise_for_status()
            mine.append(time.perf_counter() - begun)
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--per-request", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="the worker's --concurrency (each process runs torch on its share of the cores)",
    )
    args = parser.parse_args()
    processes = max(1, args.worker_processes)
    url = f"http://127.0.0.1:{args.port}"
    logs = ROOT / "var" / "log"
    logs.mkdir(parents=True, exist_ok=True)

    images = _images(args.images)
    model_ips = model_throughput(images)

    user, _ = User.objects.get_or_create(username=BENCH_USER)
    _, token = api_token_create(user=user, name="bench")
    worker = _start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vision_site",
            "worker",
            "-Q",
            f"{settings.CELERY_INFERENCE_QUEUE},default",
            "--concurrency",
            str(processes),
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            "INFO",
        ],
        logs / "bench-worker.log",
    )
    web = _start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "vision_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            "2",
            "--threads",
            "8",
        ],
        logs / "bench-web.log",
    )
    task_ids: list[int] = []
    try:
        if not wait_until_answering(f"{url}/healthz"):
            raise SystemExit(f"server at {url} did not come up; see var/log/bench-web.log")
        # One small job first, so the worker has loaded its models before timing.
        *_, warm_ids = pipeline_throughput(url, token, images[:1], 1)
        task_ids += warm_ids
        pipeline_ips, upload_ips, ids = pipeline_throughput(url, token, images, args.per_request)
        task_ids += ids
        timings = latency(url, token, ids, args.clients, args.seconds)
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            process.wait(timeout=30)
        for task in Task.objects.filter(pk__in=task_ids):
            task_delete(task=task)

    quantiles = statistics.quantiles(timings, n=100)
    print(
        f"# machine: {os.cpu_count()} cores, worker: {processes} process(es), batch size "
        f"{settings.INFERENCE_BATCH_SIZE}, "
        f"{args.images} images 640x480 JPEG, {args.per_request} per request"
    )
    print(f"{'measure':<44} | {'value':>10}")
    print("-" * 58)
    print(f"{'model throughput (in-process), img/s':<44} | {model_ips:>10.1f}")
    print(f"{'pipeline throughput (API to stored), img/s':<44} | {pipeline_ips:>10.1f}")
    print(f"{'pipeline / model':<44} | {pipeline_ips / model_ips:>10.0%}")
    print(f"{'  of which uploads alone (API), img/s':<44} | {upload_ips:>10.1f}")
    p50_label = f"GET /tasks/{{id}}/ p50 ms ({args.clients} clients)"
    print(f"{p50_label:<44} | {quantiles[49] * 1000:>10.1f}")
    print(f"{'GET /tasks/{id}/ p95 ms':<44} | {quantiles[94] * 1000:>10.1f}")
    print(f"{'GET requests measured':<44} | {len(timings):>10}")


if __name__ == "__main__":
    main()

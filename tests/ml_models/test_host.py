"""Process settings for CPU inference: torch threads and glibc's heap padding."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ml_models.inference.host import _glibc, configure_host, keep_heap_mapped

ROOT = Path(__file__).resolve().parents[2]

# Runs the shipped network's architecture (random weights) as the worker does (folded,
# channels_last, the worker's precision) over a batch of eight 384x384 images, three
# passes to warm up and five measured, and prints how many pages the kernel had to hand
# out (zeroed) for the feature maps of the measured passes.
_FAULTS = textwrap.dedent(
    """
    import resource, sys
    import torch
    from ml_models.inference.host import configure_host
    from ml_models.inference.network import NetworkConfig, build_network
    from ml_models.inference.optimize import fold_batch_norms
    from ml_models.inference.runner import autocast_for, resolve_precision

    configure_host(threads=2, heap_pad_mb=int(sys.argv[1]))
    network = fold_batch_norms(build_network(
        NetworkConfig(object_classes=list("abcdefgh"), scene_classes=list("xyz"), input_size=384)
    ))
    images = torch.rand(8, 3, 384, 384).contiguous(memory_format=torch.channels_last)
    cpu = torch.device("cpu")
    with torch.inference_mode(), autocast_for(cpu, resolve_precision(cpu, "auto")):
        for _ in range(3):
            network(images)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            network(images)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _page_faults(heap_pad_mb: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, str(heap_pad_mb)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(_glibc() is None, reason="needs glibc")
def test_padded_heap_reuses_freed_feature_maps_without_new_pages() -> None:
    default = _page_faults(0)
    padded = _page_faults(512)
    # glibc's default hands the large feature maps back to the kernel after each pass
    # (84,000 pages in bf16, 140,000 in fp32, measured); the padded heap keeps them
    assert default > 10_000
    assert padded < default / 10


@pytest.mark.skipif(_glibc() is None, reason="needs glibc")
def test_heap_pad_applies_on_glibc() -> None:
    assert keep_heap_mapped(0) is False
    # in a child: the setting is process-wide
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ml_models.inference.host import keep_heap_mapped; "
            "print(keep_heap_mapped(64 * 1024 * 1024))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "True"


def test_configure_host_sets_torch_threads() -> None:
    threads = torch.get_num_threads()
    try:
        assert configure_host(threads=1, heap_pad_mb=0) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)

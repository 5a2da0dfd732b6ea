"""Analysing many files in several processes, each running torch on its share of the cores.

On a CPU the network's many small operations, letterboxing and decoding barely use a
second thread, so processes of one thread each analyse more images per second than one
process with every thread: on the 2-core machine (bf16), ``manage.py analyze --json`` of
2,304 JPEGs of 480-640 px took 17.7 and 17.3 s with ``--processes 2`` against 19.9 and
18.7 s in one process of two threads, model loading included (two alternating runs), and
printed the same lines.

The processes are spawned, not forked (a child forked after torch ran a parallel region
would hang in its own first one), and get the model versions as plain data
(``ModelSpec``), so they never open the database. Nothing here imports Django's models at
the top: a spawned process unpickles its initializer from this module before Django is
set up.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_models.inference.predictor import Analyzer
    from ml_models.inference.spec import ModelSpec
    from ml_models.services import AnalysisOutcome

# this process's analyzer, once ``_start`` has run (in a pool's process only)
_ANALYZERS: list[Analyzer] = []


def _start(
    processes: int,
    detector: ModelSpec | None,
    scene: ModelSpec | None,
    score_threshold: float,
    batch_size: int,
) -> None:
    """Set up one process of the pool: Django's settings, its share of the cores, and the
    analyzer (its models load on the first window)."""
    import django  # pylint: disable=import-outside-toplevel

    django.setup()
    # pylint: disable=import-outside-toplevel
    from ml_models.inference.host import record_worker_processes
    from ml_models.services import analyzer_for_specs

    record_worker_processes(processes)
    _ANALYZERS.append(
        analyzer_for_specs(
            detector=detector, scene=scene, score_threshold=score_threshold, batch_size=batch_size
        )
    )


def _analyse(window: Sequence[str]) -> list[AnalysisOutcome]:
    """One window of files, analysed in a pool's process."""
    from ml_models.services import windows_analyze  # pylint: disable=import-outside-toplevel

    return list(windows_analyze(analyzer=_ANALYZERS[0], windows=[window]))


def analyze_in_processes(  # pylint: disable=too-many-arguments
    *,
    windows: Sequence[Sequence[str]],
    processes: int,
    detector: ModelSpec | None,
    scene: ModelSpec | None,
    score_threshold: float,
    batch_size: int,
) -> Iterator[AnalysisOutcome]:
    """The outcomes of every window's files, in order, the windows shared out among
    ``processes`` processes. A process that dies stops the run with a RuntimeError;
    stopping early cancels the windows not yet started."""
    pool = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(processes, detector, scene, score_threshold, batch_size),
    )
    try:
        for outcomes in pool.map(_analyse, windows):
            yield from outcomes
    except BrokenProcessPool as error:
        raise RuntimeError(
            f"an analysis process stopped before its files were done ({error}); "
            "its output above says why"
        ) from error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

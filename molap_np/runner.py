"""Resumable, parallel execution of the study's independent units of work.

A *unit* is one piece of the study that can run on its own (one strategy's
training, one leave-out fold, one strategy's perturbation sweep). Its result
is a JSON file in ``DIR/units/``, written atomically when the unit ends, so a
unit is either finished or absent: an interrupted run loses only the units
that were running and, run again, starts with the first unfinished one.

Every unit draws its random numbers from its own generator, seeded by the
run's seed and the unit's name (never by its position in the schedule), so
results do not depend on the order in which units run, nor on how many
worker processes run them.
"""

import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np

from .files import read_json, write_json


def unit_rng(seed, name):
    """The generator of unit ``name`` in a run seeded with ``seed``."""
    key = zlib.crc32(name.encode())
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


@dataclass
class Unit:
    """One independent piece of work.

    Attributes
    ----------
    name : str
        Unique within the run; names the result file and seeds the unit.
    func : callable
        ``func(out_dir, rng, **kwargs)`` returns a JSON-ready dict. It must be
        a module-level function so that a worker process can import it.
    kwargs : dict
    cost : float
        Rough relative cost, for the time-left estimate.
    """

    name: str
    func: object
    kwargs: dict = field(default_factory=dict)
    cost: float = 1.0


def result_path(out_dir, name):
    return os.path.join(out_dir, "units", f"{name}.json")


def load_result(out_dir, name):
    path = result_path(out_dir, name)
    return read_json(path) if os.path.exists(path) else None


def _run_unit(out_dir, seed, unit):
    start = time.perf_counter()
    result = unit.func(out_dir, unit_rng(seed, unit.name), **unit.kwargs)
    result = {"unit": unit.name, "seconds": time.perf_counter() - start, **result}
    write_json(result_path(out_dir, unit.name), result)
    # Read back, so that a fresh result and a resumed one are the same
    # objects (JSON has lists where the unit may have returned tuples).
    return read_json(result_path(out_dir, unit.name))


def _limit_threads():
    # Two worker processes on two cores: one BLAS thread each, or they fight.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def run_units(out_dir, seed, units, stage, workers=1, progress=None):
    """Run every unfinished unit; return ``{name: result}`` for all of them.

    Parameters
    ----------
    out_dir : str
        The run's folder.
    seed : int
    units : list of Unit
    stage : str
        Label for progress lines.
    workers : int
        Worker processes; 1 runs everything in this process.
    progress : Progress, optional
    """
    os.makedirs(os.path.join(out_dir, "units"), exist_ok=True)
    results = {u.name: load_result(out_dir, u.name) for u in units}
    todo = [u for u in units if results[u.name] is None]
    if progress is not None:
        progress.skip(sum(u.cost for u in units if results[u.name] is not None))
    if not todo:
        return results

    if workers <= 1 or len(todo) == 1:
        for unit in todo:
            if progress is not None:
                progress.starting(stage, unit.name)
            results[unit.name] = _run_unit(out_dir, seed, unit)
            if progress is not None:
                progress.finished(stage, unit.name, unit.cost)
        return results

    _limit_threads()
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run_unit, out_dir, seed, u): u for u in todo}
        if progress is not None:
            progress.starting(stage, ", ".join(u.name for u in todo[:workers]))
        for future in as_completed(futures):
            unit = futures[future]
            results[unit.name] = future.result()
            if progress is not None:
                progress.finished(stage, unit.name, unit.cost)
    return results


class Progress:
    """Prints one line per finished unit with an estimate of the time left."""

    def __init__(self, total_cost, verbose=True, stream=None):
        self.total = float(total_cost)
        self.done = 0.0
        self.skipped = 0.0
        self.start = time.perf_counter()
        self.verbose = verbose
        self.stream = stream or sys.stdout

    def skip(self, cost):
        """Units already finished by an earlier run."""
        self.done += cost
        self.skipped += cost

    def starting(self, stage, name):
        self._print(f"[{stage}] running {name}")

    def finished(self, stage, name, cost):
        self.done += cost
        elapsed = time.perf_counter() - self.start
        worked = self.done - self.skipped
        left = elapsed / worked * (self.total - self.done) if worked > 0 else 0.0
        percent = 100 * self.done / self.total if self.total else 100.0
        self._print(
            f"[{stage}] done {name:<24} {percent:5.1f} %  "
            f"elapsed {_clock(elapsed)}  left ~{_clock(left)}"
        )

    def _print(self, line):
        if self.verbose:
            print(line, file=self.stream, flush=True)


def _clock(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes:d}:{seconds:02d}"

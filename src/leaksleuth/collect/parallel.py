"""Use every core for independent inputs: parsing is pure Python, so threads would take turns on the GIL."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_processes(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``[function(item) for item in items]``, in forked worker processes when there is more than one item and core.

    ``function`` must be a module-level function and its results picklable (keep them small: a bucketed snapshot,
    not a parsed 200 MB dump). Where fork is unavailable this runs in-process.
    """
    cores = os.cpu_count() or 1
    if len(items) < 2 or cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [function(item) for item in items]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(len(items), cores), mp_context=context) as pool:
        return list(pool.map(function, items))

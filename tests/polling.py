"""Waiting on a condition, never on the clock: ``wait_until`` polls until the condition holds
and fails, naming what it waited for, when the deadline passes first.

Importable from every test directory as ``from polling import wait_until`` (pytest puts
``tests/`` on ``sys.path`` for tests/conftest.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Optional, TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, *, interval: float = 0.05,
               ignore: tuple[type[BaseException], ...] = (),
               details: Optional[Callable[[], str]] = None) -> T:
    """Call ``condition`` until it returns something true and return that.

    ``what`` says what is awaited (the failure reads "timed out after 5.0s waiting for
    <what>"); ``details`` adds what the failure should show (a log, the last state), and
    exceptions in ``ignore`` count as "not yet" (the last one is reported).
    """
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while True:
        try:
            value = condition()
        except ignore as exc:
            last_error, value = exc, None
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:.1f}s waiting for {what}"
            if last_error is not None:
                message += f" (last error: {last_error!r})"
            if details is not None:
                message += f":\n{details()}"
            raise AssertionError(message)
        time.sleep(interval)

"""Waiting on a condition, never on the clock: ``wait_until`` polls until the condition holds
and fails, naming what it waited for, when the deadline passes first.

Importable from every test directory as ``from polling import wait_until`` (pytest puts
``tests/`` on ``sys.path`` for tests/conftest.py).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Optional, TypeVar

__all__ = ["free_port", "wait_listening", "wait_until"]

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, what: str, timeout: float = 20,
                   details: Optional[Callable[[], str]] = None) -> None:
    """Wait until ``process`` listens on 127.0.0.1:``port``; fail at once when it exits first."""

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}" + (f": {details()}" if details else ""))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until(listening, timeout, f"{what} to listen on 127.0.0.1:{port}", interval=0.1, details=details)

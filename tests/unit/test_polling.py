"""The tests' one way of waiting: on a condition, with a deadline that names what it awaited."""

from __future__ import annotations

import time

import pytest
from polling import wait_until


def test_returns_the_first_true_value() -> None:
    calls = iter([None, 0, [], "ready"])
    assert wait_until(lambda: next(calls), 5, "the fourth call", interval=0) == "ready"


def test_times_out_naming_what_it_waited_for_and_the_details() -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError) as err:
        wait_until(lambda: False, 0.2, "the impossible", interval=0.01, details=lambda: "last state: nothing")
    assert time.monotonic() - start >= 0.2
    assert str(err.value) == "timed out after 0.2s waiting for the impossible:\nlast state: nothing"


def test_ignored_errors_are_not_yet_and_the_last_is_reported() -> None:
    answers = iter([OSError("refused"), OSError("refused"), True])

    def probe():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(probe, 5, "the port", interval=0, ignore=(OSError,)) is True
    with pytest.raises(AssertionError, match=r"waiting for the port \(last error: OSError\('refused'\)\)"):
        wait_until(lambda: (_ for _ in ()).throw(OSError("refused")), 0.05, "the port", interval=0.01, ignore=(OSError,))
    # Any other error is the test's failure, at once.
    with pytest.raises(ZeroDivisionError):
        wait_until(lambda: 1 / 0, 5, "nothing", ignore=(OSError,))

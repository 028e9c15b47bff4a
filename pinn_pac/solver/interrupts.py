"""Stopping on Ctrl-C or SIGTERM: a request that every training loop checks at its next step,
and sections (a file's write, a manifest's update) that a signal does not cut short: the stop
takes effect as the section ends, so a stopped run never leaves a half-made mark."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

_stop_requested = False
_sections = 0


def request_stop(requested: bool = True) -> None:
    """Ask every training loop in this process to stop (KeyboardInterrupt) at its next step,
    or withdraw the request. `stop_signal` raises KeyboardInterrupt itself as well; this is
    for when that lands in a finalizer, where Python reports and drops it."""
    global _stop_requested
    _stop_requested = requested


def check_stop() -> None:
    """KeyboardInterrupt where a stop was requested (outside an uninterrupted section)."""
    if _stop_requested and not _sections:
        raise KeyboardInterrupt


def stop_signal(signum: int, frame: object) -> None:
    """The handler of SIGINT and SIGTERM: stop now, or as the uninterrupted section ends."""
    request_stop()
    check_stop()


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A section that finishes before a stop requested during it takes effect."""
    global _sections
    _sections += 1
    try:
        yield
    finally:
        _sections -= 1
    check_stop()

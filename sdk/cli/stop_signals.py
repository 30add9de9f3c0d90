"""SIGINT / SIGTERM as a request to stop a long loop cleanly, instead of killing it mid-write.

>>> with StopSignals() as stop:
...     for item in endless_source:
...         process(item)
...         if stop.received:
...             break                 # then finish the files; exit with stop.exit_code (130 / 143)

The first signal only sets :attr:`StopSignals.received`; a second one raises ``KeyboardInterrupt``
(a hard stop that still unwinds ``with`` blocks, so temporary files are removed). The previous
handlers come back when the block ends. Outside the main thread (where Python cannot install
handlers) the block changes nothing, and a signal the process ignores (``nohup``) stays ignored.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["STOP_SIGNALS", "StopSignals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Catch :data:`STOP_SIGNALS` within a ``with`` block (see the module docstring)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # e.g. SIGINT under nohup stays ignored
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"second stop signal ({signal.Signals(signum).name})")
        self.received = signum

    @property
    def name(self) -> str | None:
        """``"SIGINT"`` / ``"SIGTERM"`` once one was received."""
        return None if self.received is None else signal.Signals(self.received).name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by the signal: 128 + its number (0 when none came)."""
        return 0 if self.received is None else 128 + int(self.received)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

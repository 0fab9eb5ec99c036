"""`StartStop`: what a throwaway server object shares as a context manager: `start()` on entering
(and `stop()` straight away if starting fails half-way), `stop()` on leaving."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class StartStop:
    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        """Idempotent, and safe after a partial start."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

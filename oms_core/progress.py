"""Progress bars for long CLI commands: one click bar per stage of the work."""
from __future__ import annotations

import click


class ProgressBars:
    """A `services.forecast_runs.Progress` drawing each stage as its own click progress bar.

    Off a terminal click prints each stage's label once instead of redrawing a bar.
    """

    def __init__(self):
        self._bar = None

    def stage(self, label: str, total: int) -> None:
        self.close()
        self._bar = click.progressbar(length=max(1, total), label=label.ljust(32), show_pos=True,
                                      show_eta=False)
        self._bar.__enter__()

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> "ProgressBars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

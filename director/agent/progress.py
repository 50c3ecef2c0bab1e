"""Progress on the terminal: one line per stage and a bar over the shots, on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Progress:
    """Quiet progress: says nothing. The base of the rich reporter below."""

    def stage(self, name: str, detail: str = "") -> None: ...

    def shots_total(self, total: int) -> None: ...

    def shot(self, shot_id: str, text: str) -> None: ...

    def shot_done(self) -> None: ...

    def encoding(self, seconds: float, total: float) -> None: ...

    def close(self) -> None: ...

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing is drawn while a human answers a question on the same terminal."""
        yield


class RichProgress(Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.console = Console(stderr=True)
        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None

    def stage(self, name: str, detail: str = "") -> None:
        self.console.print(f"[bold]{name}[/bold] {detail}".rstrip())

    def shots_total(self, total: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("shots", total=total)

    def shot(self, shot_id: str, text: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=f"{shot_id} {text}")

    def shot_done(self) -> None:
        if self.task is not None:
            self.bar.advance(self.task)

    def encoding(self, seconds: float, total: float) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("encoding film (s)", total=round(total))
        self.bar.update(self.task, completed=min(round(seconds), round(total)))

    def close(self) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.bar.stop()
            self.task = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        # The bar redraws itself from a thread; left running it would write over the prompt.
        live = self.task is not None
        if live:
            self.bar.stop()
        try:
            yield
        finally:
            if live:
                self.bar.start()

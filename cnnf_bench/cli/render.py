"""Rich renderings of library progress events (the library itself never prints)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class TrainProgress:
    """Callback for :func:`cnnf_bench.train.fit` that shows a per-epoch bar with loss, accuracy, images/s."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> TrainProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def __call__(self, event: Any) -> None:
        m = event.metrics
        if event.kind in ("start", "resume"):
            verb = "resuming after epoch" if event.kind == "resume" else "training from epoch"
            self.console.print(
                f"{verb} {event.epoch} of {event.epochs}: {event.batches} batches/epoch, "
                f"{m['train_images']} training images -> {m['path']}"
            )
        elif event.kind == "batch":
            desc = f"epoch {event.epoch}/{event.epochs}"
            stats = f"loss {m['loss']:.4f}  acc {100 * m['train_acc']:.1f}%  {m['images_per_s']:.0f} img/s"
            if self.task is None or self.progress.tasks[self.task].description != desc:
                self.task = self.progress.add_task(desc, total=event.batches, stats=stats)
            self.progress.update(self.task, completed=event.batch, stats=stats)
        elif event.kind == "epoch":
            self.progress.console.print(
                f"epoch {event.epoch}/{event.epochs}: loss {m['loss']:.4f}  train acc {100 * m['train_acc']:.2f}%  "
                f"test acc {100 * m['test_acc']:.2f}%  {m['images_per_s']:.1f} img/s"
            )

"""Rich renderings of library progress events (the library itself never prints)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: how a protocol-limit line starts (printed once per run, as every repeated warning)
LIMIT = "[yellow]limit:[/]"
#: a piped log gets a progress line inside a long batch at most this often (seconds)
PIPED_INTERVAL_S = 30.0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressRenderer:
    """Renders training and evaluation events in one live display.

    On a terminal: a bar per epoch (loss, accuracy, images/s) and per attack job (running accuracy),
    with elapsed time and ETA, moving inside a batch as the attack reports its iterations
    (:mod:`cnnf_bench.progress`). Elsewhere (CI logs, files): plain lines with a time stamp, at every
    10% and, inside a long batch, at most every 30 s, each with its ETA. A repeated warning or limit
    line is printed once (``--verbose``: every time).
    """

    def __init__(self, console: Console) -> None:
        from cnnf_bench.cli.app import Verbosity

        self.console = console
        self.quiet = Verbosity.quiet
        self.live = console.is_terminal and not self.quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=not self.live,
        )
        self.verbose = Verbosity.verbose
        self.task: TaskID | None = None
        self.description = ""
        self.milestone = 0
        self.started = time.monotonic()
        self.last_line = 0.0
        self.seen: set[str] = set()

    def __enter__(self) -> ProgressRenderer:
        self.progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def print(self, text: str) -> None:
        """A line above the live bars; in a piped log, with the wall-clock time in front."""
        if not self.live:
            text = f"[dim]{time.strftime('%H:%M:%S')}[/] {text}"
        self.progress.console.print(text, highlight=False)

    def once(self, text: str) -> None:
        """A warning-like line printed the first time only (every time with ``--verbose``)."""
        if text in self.seen and not self.verbose:
            return
        self.seen.add(text)
        self.print(text)

    def note(self, text: str) -> None:
        """A line of information above the live bars (``--quiet`` drops it)."""
        if not self.quiet:
            self.print(text)

    def _eta(self, done: float, total: int) -> str:
        elapsed = time.monotonic() - self.started
        if done <= 0 or done >= total:
            return f"elapsed {_clock(elapsed)}"
        return f"elapsed {_clock(elapsed)}, eta {_clock(elapsed * (total - done) / done)}"

    def _bar(self, description: str, done: int, total: int, stats: str, inside: bool = False) -> None:
        if description != self.description or self.task is None:
            self.description, self.milestone = description, 0
            self.started = self.last_line = time.monotonic()
            self.task = self.progress.add_task(description, total=total, stats=stats)
        self.progress.update(self.task, completed=done, stats=stats)
        if not self.live and total and not self.quiet:
            step = max(1, total // 10)
            now = time.monotonic()
            due = now - self.last_line >= PIPED_INTERVAL_S if inside else done >= self.milestone + step
            if due or (done == total and not inside):
                self.milestone, self.last_line = (self.milestone if inside else done), now
                self.print(f"{description}: {done}/{total} {stats} ({self._eta(done, total)})")

    def train(self, event: Any) -> None:
        """Callback for :func:`cnnf_bench.train.fit`."""
        m = event.metrics
        if event.kind in ("start", "resume"):
            verb = "resuming after epoch" if event.kind == "resume" else "training from epoch"
            self.note(
                f"{verb} {event.epoch} of {event.epochs}: {event.batches} batches/epoch, "
                f"{m['train_images']} training images -> {m['path']}"
            )
        elif event.kind == "batch":
            stats = f"loss {m['loss']:.4f}  acc {100 * m['train_acc']:.1f}%  {m['images_per_s']:.0f} img/s"
            self._bar(f"epoch {event.epoch}/{event.epochs}", event.batch, event.batches, stats)
        elif event.kind == "epoch":
            recon = ""
            if "recon_mse_clean" in m:
                recon = f"  recon mse clean {m['recon_mse_clean']:.4f}"
                if "recon_mse_noisy" in m:
                    recon += f" noisy {m['recon_mse_noisy']:.4f} (input {m['noisy_input_mse']:.4f})"
            self.note(
                f"epoch {event.epoch}/{event.epochs}: loss {m['loss']:.4f}  train acc {100 * m['train_acc']:.2f}%  "
                f"test acc {100 * m['test_acc']:.2f}%{recon}  {m['images_per_s']:.1f} img/s"
            )

    def evaluate(self, event: Any) -> None:
        """Callback for :func:`cnnf_bench.evaluate.evaluate_checkpoint`."""
        if event.kind == "start":
            self._bar(event.label, 0, event.total, "")
        elif event.kind == "iteration":
            info = event.info
            stats = f"iteration {info['iteration']}/{info['iterations']} of images {info['batch_start'] + 1}-"
            stats += f"{info['batch_start'] + info['batch_size']}"
            self._bar(event.label, event.done, event.total, stats, inside=True)
        elif event.kind == "batch":
            self._bar(event.label, event.done, event.total, f"acc {100 * event.info['accuracy']:.1f}%")
        elif event.kind == "skip":
            self.note(f"skip {escape(event.label)}: already in the store")


def record_lines(records: list[dict[str, Any]]) -> list[str]:
    """One markup line per new record (what was attacked, how, the accuracy), plus protocol limits."""
    lines = []
    for r in records:
        target = "" if r["target"] == "-" else f" ({r['target']})"
        trained = r["model_kwargs"].get("cycles", r["cycles"])  # FPD models have no cycles
        cycles = "" if r["cycles"] == trained else f", T={r['cycles']}"
        loss = (r.get("params") or {}).get("loss")
        name = f"{r['attack']}-{loss}" if isinstance(loss, str) and loss != "ce" else r["attack"]
        lines.append(
            f"{name}{target} eps {r['eps']:.4g} on {r['checkpoint']['run']} "
            f"{escape('[readout ' + r['readout'] + cycles + ']')}: "
            f"[bold]{100 * r['n_correct'] / r['n']:.2f}%[/] ({r['n_correct']}/{r['n']}), {r['seconds']:.1f} s"
        )
        lines.extend(f"{LIMIT} {escape(note)}" for note in r.get("extras", {}).get("limits", []))
    return lines


def print_wide(console: Console, renderable: Any) -> None:
    """Print a table at its natural width even on a narrow (or non-terminal, 80-column) console."""
    natural = console.measure(renderable, options=console.options.update_width(10_000)).maximum
    if natural <= console.width:
        console.print(renderable)
        return
    saved = console.width
    console.width = natural  # rich caps print(width=...) at the console's width, so widen it briefly
    try:
        console.print(renderable, crop=False)
    finally:
        console.width = saved


def report_tables(tables: list[Any]) -> list[Any]:
    """Rich renderings of :class:`cnnf_bench.report.Table` objects (caption and notes included)."""
    from rich.table import Table as RichTable

    from cnnf_bench.report import MIN, caption, flag_lines, flags_legend, majority_runs, table_title
    from cnnf_bench.report.distance import shown_columns
    from cnnf_bench.report.render import shown_cell

    out: list[Any] = []
    for table in tables:
        majority = majority_runs(table)
        columns = shown_columns(table)  # accuracy columns, each minimum-norm one followed by its median L2
        rich = RichTable(title=escape(table_title(table)))
        rich.add_column("", no_wrap=True)
        for header, _, _ in columns:  # headers such as "PGD (e2e) [restarts=1, steps=7]" are not markup
            rich.add_column(escape(header), justify="right", no_wrap=True)
        for row in table.rows:
            source = table.cell(row, MIN).source_column
            values = []
            for _, column, distance in columns:
                text = shown_cell(table, row, column, distance, majority)
                values.append(f"[bold]{escape(text)}[/]" if column == source and not distance else escape(text))
            label = table.row_label(row)
            rich.add_row(f"[red]{escape(label)}[/]" if table.unreliable(row) else escape(label), *values)
        out.append(rich)
        out.append(f"[dim]{escape(caption(table))}[/]")
        if table.strength:
            out.append(f"[dim]Evaluation strength: {escape(table.strength)}.[/]")
        for note in table.notes:
            out.append(f"[dim]- {escape(note)}[/]")
        out.append("[bold]Flags[/]")
        for line, row in zip(flag_lines(table), table.rows, strict=True):
            colour = (
                "red"
                if table.unreliable(row)
                else ("yellow" if table.flags.get(row) and table.flags[row].flags else "dim")
            )
            out.append(f"[{colour}]- {escape(line)}[/]")
        if any(table.unreliable(row) for row in table.rows):
            out.append(f"[red]{escape(flags_legend())}[/]")
    return out


def target_notes(requested: tuple[str, ...], records: list[dict[str, Any]]) -> list[str]:
    """Lines saying which function was attacked: what ``deployed`` resolved to, and a warning when only the
    first pass of a model with feedback cycles was attacked (it is not the function the model deploys)."""
    lines = []
    made = [r for r in records if r.get("target") not in (None, "-")]
    if "deployed" in requested and made:
        resolved = sorted({f"{r['target']} for the {r['readout']} readout" for r in made})
        lines.append(f"target: the deployed function ({escape(', '.join(resolved))})")
    if set(requested) == {"first"} and any(int(r.get("cycles") or 0) > 0 for r in made):
        lines.append(
            "[yellow]note:[/] only the first feedforward pass was attacked; it is not the function this model "
            "deploys (its feedback cycles change the logits), so the accuracy can overstate its robustness: "
            "`-t deployed` attacks what the model computes"
        )
    return lines

"""The paper's experiments as pictures: every figure is a PNG with the CSV of its numbers beside it.

Figure families, one module each: :mod:`~cnnf_bench.plots.curves` (Figure 5: accuracy against eps,
training and test iterations), :mod:`~cnnf_bench.plots.confusion`, :mod:`~cnnf_bench.plots.training`
(loss curves), :mod:`~cnnf_bench.plots.corruption_table`, :mod:`~cnnf_bench.plots.student` (cycles x
eta grid, clean vs noisy) and :mod:`~cnnf_bench.plots.restoration` (Figure 6d; the only one that runs a
model, so the only one that imports torch). Figures whose data is absent are skipped with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnnf_bench.plots.confusion import LabelSource, confusion_matrices
from cnnf_bench.plots.corruption_table import corruption_results
from cnnf_bench.plots.curves import accuracy_vs_eps, accuracy_vs_test_iterations, accuracy_vs_train_iterations
from cnnf_bench.plots.data import Record
from cnnf_bench.plots.figure import PlotResult
from cnnf_bench.plots.restoration_curves import reconstruction_curves
from cnnf_bench.plots.student import clean_vs_noisy, cycles_eta_grid
from cnnf_bench.plots.training import training_curves

__all__ = ["PlotResult", "make_figures"]


def make_figures(
    records: Sequence[Record],
    out_dir: Path,
    labels: LabelSource | None = None,
    bases: Sequence[Path] = (Path(),),
    taken: set[str] | None = None,
) -> PlotResult:
    """Every store-only figure (all but restoration) into ``out_dir``.

    Args:
        records: the store's latest records.
        out_dir: folder for the PNG, CSV and Markdown files.
        labels: true labels of the evaluation subsets (confusion matrices are skipped without them).
        bases: folders that relative checkpoint paths in the records are relative to (training curves).
        taken: file stems already used in ``out_dir`` by this invocation.
    """
    taken = set() if taken is None else taken
    result = PlotResult()
    for figure in (accuracy_vs_eps, accuracy_vs_train_iterations, accuracy_vs_test_iterations):
        result.add(figure(records, out_dir, taken))
    result.add(confusion_matrices(records, out_dir, labels, taken))
    result.add(training_curves(records, out_dir, bases, taken))
    result.add(reconstruction_curves(records, out_dir, bases, taken))
    result.add(corruption_results(records, out_dir, taken))
    result.add(cycles_eta_grid(records, out_dir, taken))
    result.add(clean_vs_noisy(records, out_dir, taken))
    return result

"""Figures for papers: PNG/PDF/SVG at any dpi, one-line titles with the full parameters in a caption file,
colour scales on the data range, and the main table as a figure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnnf_bench.cli import app
from cnnf_bench.plots import make_figures, output
from cnnf_bench.plots.figure import new_figure, save
from cnnf_bench.plots.student import _data_range
from cnnf_bench.report import build_tables, to_csv
from tests.test_report import paper_records

runner = CliRunner()


def test_main_table_figure_has_the_report_numbers(tmp_path: Path) -> None:
    records = paper_records()
    result = make_figures(records, tmp_path)
    figure = tmp_path / "main_table-fmnist-paper-eps0.1.png"
    assert figure in result.written and figure.stat().st_size > 0
    assert (tmp_path / "main_table-fmnist-paper-eps0.1.csv").read_text() == to_csv(build_tables(records))
    caption = (tmp_path / "main_table-fmnist-paper-eps0.1.caption.txt").read_text()
    assert "mean ± sample std over 2 training seeds" in caption and "Evaluation strength" in caption
    rows = [r for r in csv.DictReader(io.StringIO(to_csv(build_tables(records)))) if r["kind"] == "cell"]
    assert {r["row"] for r in rows} == {"CNN", "CNN-F (last)", "CNN-F (avg)"}


def test_titles_are_one_line_and_the_caption_keeps_every_parameter(tmp_path: Path) -> None:
    fig, (ax,) = new_figure()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    title = "accuracy vs eps\nPGD steps 40, step_size 0.0025, random_start True, track_best False"
    path = save(fig, tmp_path / "f.png", title)
    assert "\n" not in fig.get_suptitle() and fig.get_suptitle() == "accuracy vs eps"
    assert "track_best False" in (tmp_path / "f.caption.txt").read_text()
    assert path.suffix == ".png"


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_vector_formats_and_dpi(tmp_path: Path, fmt: str) -> None:
    with output(fmt, 200):
        result = make_figures(paper_records(), tmp_path)
    assert [p.suffix for p in result.written if p.suffix not in (".csv", ".md")] == [f".{fmt}"]
    head = result.written[0].read_bytes()[:5]
    assert head == (b"%PDF-" if fmt == "pdf" else b"<?xml")


def test_plot_command_takes_format_and_dpi(tmp_path: Path) -> None:
    store = tmp_path / "r.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in paper_records()))
    base = ["plot", "--results", str(store), "--out", str(tmp_path / "f"), "--no-restoration"]
    result = runner.invoke(app, [*base, "-f", "svg", "--dpi", "150"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f" / "main_table-fmnist-paper-eps0.1.svg").is_file()
    assert "1 figure(s)" in result.output
    bad = runner.invoke(app, [*base, "--dpi", "5"])
    assert bad.exit_code == 2 and "--dpi must be >= 10" in bad.output


def test_heat_map_colours_span_the_data() -> None:
    assert _data_range(np.array([[75.0, 79.0], [np.nan, 77.0]])) == (75.0, 79.0)
    assert _data_range(np.array([[80.0, 80.2]])) == pytest.approx((79.6, 80.6))
    assert _data_range(np.full((2, 2), np.nan)) == (0.0, 100.0)

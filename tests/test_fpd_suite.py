"""FPD beside CNN and CNN-F through the real CLI: a tiny three-family suite, the fpd protocol, the figure."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cnnf_bench.cli import app
from cnnf_bench.plots.restoration import restoration

runner = CliRunner()


def _suite(folder: Path) -> Path:
    path = folder / "fpd.yaml"
    path.write_text(
        f"""
name: fpd-tiny
output_dir: {folder}/ck
results: {folder}/results.jsonl
report: {folder}/report
seeds: [0]
models: [cnn-fmnist-small, {{name: cnnf-fmnist-small, cycles: 1}}, fpd-fmnist-small]
config:
  data: {{train_subset: 64, test_subset: 16}}
  train: {{mode: standard, epochs: 1, batch_size: 64, monitor_images: 8}}
evaluation: {{n: 8, readouts: [last, avg], batch_size: 8}}
attacks:
  - none
  - {{attack: pgd, targets: [first, e2e], params: {{steps: 2, eps: 0.02}}}}
  - {{attack: pgd, models: [fpd-fmnist-small], targets: [pre-tanh], params: {{steps: 2, eps: 0.02}}}}
  - {{attack: transfer, params: {{steps: 2, eps: 0.02}}}}
  - {{attack: bim, protocol: fpd, targets: [deployed], params: {{steps: 2}}}}
  - {{attack: cw-l2, protocol: fpd, targets: [deployed], n: 4, params: {{steps: 2, binary_search_steps: 1}}}}
"""
    )
    return path


def test_three_families_in_one_table_with_the_fpd_protocol(tmp_path: Path, fashion_dir: Path) -> None:
    result = runner.invoke(app, ["run", str(_suite(tmp_path)), "--data-dir", str(fashion_dir)])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report.md").read_text()
    rows = [line.split("|")[1].strip() for line in report.splitlines() if line.startswith("| ")]
    assert {"CNN", "CNN-F (last)", "CNN-F (avg)", "FPD"} <= set(rows)
    assert "PGD (pre-tanh)" in report and "BIM (deployed)" in report and "C&W-L2 (deployed)" in report
    # `targets: [deployed]` on three families: one column, the note says which view each row's is
    each = "e2e for CNN, CNN-F (last), FPD; e2e-avg for CNN-F (avg)"
    assert f"BIM (deployed): each row attacked through the function it deploys ({each})." in report
    assert "accuracy at L2 <= 1.5; median L2" in report
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    fpd = [r for r in records if r["model"] == "fpd-fmnist-small"]
    assert fpd and all(r["family"] == "fpd" and r["readout"] == "last" for r in fpd)  # no "avg" asked of FPD
    cw = [r for r in records if r["attack"] == "cw-l2"]
    assert cw and all(r["extras"]["l2_budget"] == 1.5 and "median_l2" in r["extras"] for r in cw)
    assert {r["eps"] for r in records if r["attack"] == "bim"} == {0.3}  # released: ART's default eps everywhere
    # the restoration figure: clean, corrupted, x-hat after each of the two calls
    run = tmp_path / "ck" / "fpd-fmnist-small_standard_s0"
    figure = restoration(run, tmp_path / "plots", data_dir=fashion_dir, images=1, n_eval=8, kinds=("blur",))
    csv = next(p for p in figure.written if p.suffix == ".csv").read_text()
    assert "x-hat, pass 1" in csv and "x-hat, pass 2" in csv

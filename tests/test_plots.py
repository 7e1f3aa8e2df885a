"""Figures from a hand-made results store: the CSV numbers behind them (means and stds over seeds worked
out by hand), the skips with a note, the labels on every PNG, restoration, and the plot command."""

from __future__ import annotations

import base64
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cnnf_bench.bits import pack_bits
from cnnf_bench.classes import CLASS_NAMES
from cnnf_bench.cli import app
from cnnf_bench.plots import make_figures
from cnnf_bench.plots.data import accuracy, series_key, series_labels
from cnnf_bench.plots.figure import new_figure, save

runner = CliRunner()
N = 10
LABELS = np.arange(N) % 10


def labels(dataset: str, subset_seed: int) -> np.ndarray:
    """The hand-made store's truth: example i has class i."""
    assert (dataset, subset_seed) == ("fmnist", 0)
    return LABELS


def flags(text: str) -> list[bool]:
    return [c == "1" for c in text]


def record(
    model: str,
    trained: int,
    seed: int,
    correct: str,
    attack: str = "none",
    eps: float = 0.1,
    target: str = "-",
    cycles: int | None = None,
    params: dict[str, Any] | None = None,
    eta: float = 0.1,
    mode: str = "standard",
    run_dir: Path | None = None,
    predictions: list[int] | None = None,
) -> dict[str, Any]:
    """One store record in the schema's shape; predictions default to the label where correct, else class 0/1."""
    ok = flags(correct)
    predicted = predictions or [int(y) if c else (int(y) + 1) % 10 for y, c in zip(LABELS, ok, strict=True)]
    readout = "last" if trained == 0 else "avg"
    run = f"{model}-T{trained}-eta{eta}_{mode}_s{seed}"
    folder = run_dir / run if run_dir is not None else Path("checkpoints") / run
    all_params = {"eps": eps, **(params or {})}
    identity = [model, trained, eta, mode, seed, attack, all_params, target, cycles]
    return {
        "schema": 1,
        "key": json.dumps(identity, sort_keys=True),
        "checkpoint": {"path": str(folder / "checkpoint.pt"), "sha256": f"sha-{run}", "run": run},
        "dataset": "fmnist",
        "model": model,
        "model_kwargs": {"ind": 0, "cycles": trained, "eta": eta, "readout": readout},
        "cycles": trained if cycles is None else cycles,
        "train_seed": seed,
        "train_mode": mode,
        "protocol": "custom",
        "attack": attack,
        "params": all_params,
        "eps": eps,
        "target": target,
        "readout": readout,
        "attack_seed": 0,
        "subset": {"split": "test", "seed": 0, "n": N},
        "n": N,
        "n_correct": sum(ok),
        "correct": pack_bits(ok),
        "predictions": base64.b64encode(np.asarray(predicted, dtype=np.uint8).tobytes()).decode("ascii"),
    }


PGD = {"steps": 40, "step_size": None, "random_start": True, "restarts": 1}
# per example: CNN-F-2 under PGD eps 0.05; correct under both views is the AND (3/10 for seed 0, 4/10 for seed 1)
CNNF2_PGD05 = {
    0: ("1111100000", "1110011000"),  # first 5/10, e2e 5/10, both 3/10
    1: ("1111110000", "1111001111"),  # first 6/10, e2e 8/10, both 4/10
}


def fig5_store(run_dir: Path | None = None) -> list[dict[str, Any]]:
    """CNN and CNN-F-1/2 (seeds 0, 1): clean and PGD-40 at eps 0.05 and 0.1, a test-cycle sweep of CNN-F-2."""
    cnn, cnnf = "cnn-fmnist-small", "cnnf-fmnist-small"
    out = []
    for seed in (0, 1):
        out.append(record(cnn, 0, seed, "1111111110" if seed == 0 else "1111111100", run_dir=run_dir))
        out.append(record(cnn, 0, seed, "1000000000", "pgd", 0.05, "first", params=PGD, run_dir=run_dir))
        out.append(record(cnn, 0, seed, "0000000000", "pgd", 0.1, "first", params=PGD, run_dir=run_dir))
        out.append(record(cnnf, 1, seed, "1111111000", run_dir=run_dir))
        out.append(record(cnnf, 1, seed, "1100000000", "pgd", 0.05, "first", params=PGD, run_dir=run_dir))
        out.append(record(cnnf, 1, seed, "1000000000", "pgd", 0.1, "first", params=PGD, run_dir=run_dir))
        out.append(record(cnnf, 2, seed, "1111111100", run_dir=run_dir))
        first, e2e = CNNF2_PGD05[seed]
        out.append(record(cnnf, 2, seed, first, "pgd", 0.05, "first", params=PGD, run_dir=run_dir))
        out.append(record(cnnf, 2, seed, e2e, "pgd", 0.05, "e2e", params=PGD, run_dir=run_dir))
        out.append(record(cnnf, 2, seed, "1100000000", "pgd", 0.1, "first", params=PGD, run_dir=run_dir))
        out.append(record(cnnf, 2, seed, "1100000000", "pgd", 0.1, "e2e", params=PGD, run_dir=run_dir))
        for cycles, text in ((0, "1000000000"), (1, "1100000000")):  # test-time sweep of CNN-F-2, eps 0.05
            out.append(record(cnnf, 2, seed, text, "pgd", 0.05, "first", cycles, PGD, run_dir=run_dir))
            out.append(record(cnnf, 2, seed, "1111111000", cycles=cycles, run_dir=run_dir))
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pngs_ok(paths: list[Path]) -> None:
    for path in paths:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
            assert path.with_suffix(".csv").is_file(), f"{path} has no CSV beside it"


def test_accuracy_vs_eps_numbers_are_means_and_stds_over_seeds(tmp_path: Path) -> None:
    result = make_figures(fig5_store(), tmp_path, labels)
    pngs_ok(result.written)
    (path,) = tmp_path.glob("accuracy_vs_eps-*.csv")
    rows = read_csv(path)
    cnnf2 = {float(r["x"]): r for r in rows if r["line"] == "CNN-F-2 [first+e2e]"}
    assert set(cnnf2) == {0.0, 0.05, 0.1}
    point = cnnf2[0.05]  # per example worst of the two views: 3/10 and 4/10
    assert float(point["mean"]) == pytest.approx(0.35)
    assert float(point["std"]) == pytest.approx(statistics.stdev([0.3, 0.4]))
    assert point["seeds"] == "0 1" and point["n_runs"] == "2" and point["n"] == str(N)
    clean = cnnf2[0.0]  # eps 0 is clean accuracy: 8/10 for both seeds, std 0
    assert float(clean["mean"]) == pytest.approx(0.8) and float(clean["std"]) == pytest.approx(0.0)
    cnn_clean = next(r for r in rows if r["line"] == "CNN [first]" and float(r["x"]) == 0.0)
    assert float(cnn_clean["mean"]) == pytest.approx(0.85)  # 9/10 and 8/10
    assert float(cnn_clean["std"]) == pytest.approx(statistics.stdev([0.9, 0.8]))
    lines = {r["line"] for r in rows}  # the views are named where lines differ in them
    assert lines == {"CNN [first]", "CNN-F-1 [first]", "CNN-F-2 [first+e2e]"}, "the test-time sweep is no line"


def test_accuracy_vs_train_and_test_iterations(tmp_path: Path) -> None:
    make_figures(fig5_store(), tmp_path, labels)
    (train_csv,) = tmp_path.glob("accuracy_vs_train_iterations-*.csv")
    rows = read_csv(train_csv)
    at_05 = {int(float(r["x"])): float(r["mean"]) for r in rows if r["line"] == "eps 0.05"}
    # k=0 is the CNN; only the first view was run on every model, so CNN-F-2 counts it alone: 5/10, 6/10
    assert at_05 == pytest.approx({0: 0.1, 1: 0.2, 2: 0.55})
    (test_csv,) = tmp_path.glob("accuracy_vs_test_iterations-*.csv")
    rows = read_csv(test_csv)
    at_05 = {int(float(r["x"])): float(r["mean"]) for r in rows if r["line"] == "eps 0.05"}
    assert at_05 == pytest.approx({0: 0.1, 1: 0.2, 2: 0.55})  # the first view, run at every test-time cycles
    clean = {int(float(r["x"])): float(r["mean"]) for r in rows if r["line"] == "clean"}
    assert clean == pytest.approx({0: 0.7, 1: 0.7, 2: 0.8})


def test_confusion_matrix_counts_come_from_the_predictions(tmp_path: Path) -> None:
    make_figures(fig5_store(), tmp_path, labels)
    rows = read_csv(tmp_path / "confusion-fmnist-clean.csv")
    cnn = [r for r in rows if r["model"] == "CNN"]
    assert len(cnn) == 100
    count = {(r["true_class"], r["predicted_class"]): int(r["count"]) for r in cnn}
    names = CLASS_NAMES["fmnist"]
    # seed 0 misses example 9 (-> class 0), seed 1 misses 8 (-> 9) and 9 (-> 0): summed over the two runs
    assert count[(names[9], names[0])] == 2 and count[(names[8], names[9])] == 1
    assert count[(names[0], names[0])] == 2 and count[(names[9], names[9])] == 0
    assert sum(count.values()) == 2 * N
    assert not list(tmp_path.glob("confusion-*-noise*")), "no noise records, no noise matrix"


def test_training_curves_from_metrics_files(tmp_path: Path) -> None:
    runs = tmp_path / "checkpoints"
    store = fig5_store(runs)
    losses = {0: [1.0, 0.5], 1: [2.0, 0.7]}
    for r in store:
        folder = Path(r["checkpoint"]["path"]).parent
        folder.mkdir(parents=True, exist_ok=True)
        seed = r["train_seed"]
        lines = [{"epoch": e + 1, "loss": v, "test_acc": 0.5 + 0.1 * e, "images": 64, "test_images": 32}
                 for e, v in enumerate(losses[seed])]  # fmt: skip
        (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
        (folder / "config.yaml").write_text("train: {mode: standard, optimizer: adam, lr: 0.001, eps: 0.1}\n")
    result = make_figures(store, tmp_path / "out", labels)
    rows = read_csv(tmp_path / "out" / "training_curves-fmnist.csv")
    loss_1 = next(r for r in rows if r["line"] == "CNN" and r["metric"] == "loss" and r["epoch"] == "1")
    assert float(loss_1["mean"]) == pytest.approx(1.5) and float(loss_1["std"]) == pytest.approx(
        statistics.stdev([1, 2])
    )
    assert loss_1["runs"] == "2"
    assert not any("training curves" in note for note in result.notes)


def corruption_store() -> list[dict[str, Any]]:
    out = []
    for model, trained in (("cnn-fmnist-small", 0), ("cnnf-fmnist-small", 2)):
        for seed in (0, 1):
            out.append(record(model, trained, seed, "1111111111"))
            for kind, severity, text in (
                ("blur", 1, "1111111100"),
                ("blur", 3, "1111000000"),
                ("contrast", 1, "1110000000"),
            ):
                params = {"kind": kind, "severity": severity}
                extra = "0" if seed == 0 or trained == 0 else "1"  # CNN-F seed 1 gets one more right
                out.append(record(model, trained, seed, text[:-1] + extra, "corruption", 1.0, params=params))
    return out


def test_corruption_table_markdown_and_csv(tmp_path: Path) -> None:
    make_figures(corruption_store(), tmp_path, labels)
    rows = read_csv(tmp_path / "corruptions-fmnist.csv")
    blur3 = next(r for r in rows if r["line"] == "CNN-F-2" and r["kind"] == "blur" and r["severity"] == "3")
    assert float(blur3["mean"]) == pytest.approx(0.45)  # 4/10 and 5/10
    assert float(blur3["std"]) == pytest.approx(statistics.stdev([0.4, 0.5]))
    cnn_blur1 = next(r for r in rows if r["line"] == "CNN" and r["kind"] == "blur" and r["severity"] == "1")
    assert float(cnn_blur1["mean"]) == pytest.approx(0.8) and float(cnn_blur1["std"]) == 0.0
    markdown = (tmp_path / "corruptions-fmnist.md").read_text()
    assert "| CNN | 100.00 ± 0.00 | 80.00 ± 0.00 | 40.00 ± 0.00 | 60.00 |" in markdown
    assert "severity 3" in markdown and "not L-inf" in markdown
    assert (tmp_path / "corruptions-fmnist.png").is_file()


def grid_store() -> list[dict[str, Any]]:
    out = []
    noise = {"draws": 1}
    for seed in (0, 1):
        for cycles, eta, clean, noisy in ((1, 0.1, 8, 5), (2, 0.1, 9, 6), (1, 0.3, 7, 7), (2, 0.3, 8, 8)):
            bump = seed  # seed 1 gets one more right on noisy images
            out.append(
                record("cnnf-fmnist-small", cycles, seed, "1" * clean + "0" * (N - clean), eta=eta, mode="noise")
            )
            text = "1" * (noisy + bump) + "0" * (N - noisy - bump)
            out.append(
                record("cnnf-fmnist-small", cycles, seed, text, "noise", 0.1, params=noise, eta=eta, mode="noise")
            )
        out.append(record("cnn-fmnist-small", 0, seed, "1111111110", mode="noise"))
        out.append(record("cnn-fmnist-small", 0, seed, "1111100000", "noise", 0.1, params=noise, mode="noise"))
        out.append(record("cnn-fmnist-small", 0, seed, "1111111111", mode="standard"))
        out.append(record("cnn-fmnist-small", 0, seed, "1110000000", "noise", 0.1, params=noise, mode="standard"))
    return out


def test_cycles_eta_grid_and_clean_vs_noisy(tmp_path: Path) -> None:
    result = make_figures(grid_store(), tmp_path, labels)
    pngs_ok(result.written)
    rows = read_csv(tmp_path / "cycles_eta_grid-fmnist-cnnf-fmnist-small-noise.csv")
    cell = next(r for r in rows if r["condition"] == "noise eps 0.1" and r["cycles"] == "2" and r["eta"] == "0.3")
    assert float(cell["mean"]) == pytest.approx(0.85) and float(cell["std"]) == pytest.approx(
        statistics.stdev([0.8, 0.9])
    )
    assert len([r for r in rows if r["condition"] == "clean"]) == 4
    bars = read_csv(tmp_path / "clean_vs_noisy-fmnist.csv")
    cnn_noise = {
        r["train_mode"]: float(r["mean"])
        for r in bars
        if r["model"] == "cnn-fmnist-small" and r["condition"] != "clean"
    }
    assert cnn_noise == pytest.approx({"noise": 0.5, "standard": 0.3})
    assert (tmp_path / "confusion-fmnist-noise-eps0.1.png").is_file()


def test_absent_data_is_skipped_with_one_note_per_figure(tmp_path: Path) -> None:
    result = make_figures([], tmp_path / "empty", labels)
    assert result.written == [] and not (tmp_path / "empty").exists()
    assert len(result.notes) == 9 and all("skipped" in note and "\n" not in note for note in result.notes)
    no_labels = make_figures(fig5_store(), tmp_path / "nolabels", None)
    assert any(note.startswith("confusion matrices: skipped") for note in no_labels.notes)


def test_every_saved_figure_must_be_labelled(tmp_path: Path) -> None:
    fig, (ax,) = new_figure(1)
    ax.plot([0, 1], [0, 1], label="a line")
    with pytest.raises(ValueError, match="axis labels"):
        save(fig, tmp_path / "bare.png", "a title")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    with pytest.raises(ValueError, match="legend"):
        save(fig, tmp_path / "bare.png", "a title")
    ax.legend()
    assert save(fig, tmp_path / "bare.png", "a title").is_file()


def test_labels_and_stats_helpers() -> None:
    keys = {series_key(r) for r in grid_store()}
    names = set(series_labels(keys).values())
    assert "CNN-F-2 (eta 0.3, noise)" in names and "CNN (standard)" in names
    assert accuracy([]) is None


def test_class_names_match_the_datasets() -> None:
    from cnnf_bench.data import DATASETS

    for name, classes in CLASS_NAMES.items():
        assert DATASETS.get(name).classes == classes


def test_plotting_from_the_store_does_not_import_torch(tmp_path: Path) -> None:
    store = tmp_path / "store.json"
    store.write_text(json.dumps(fig5_store() + corruption_store()))
    probe = (
        "import json, sys\nimport numpy as np\nfrom pathlib import Path\nfrom cnnf_bench.plots import make_figures\n"
        f"records = json.loads(Path({str(store)!r}).read_text())\n"
        f"result = make_figures(records, Path({str(tmp_path / 'out')!r}), lambda d, s: np.arange(10))\n"
        "print(len(result.written), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    written, torch_loaded = out.stdout.split()
    assert int(written) >= 10 and torch_loaded == "False"


def test_restoration_grid_and_its_numbers(tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path) -> None:
    from cnnf_bench.plots.restoration import restoration

    result = restoration(tiny_runs["cnnf-fmnist-small"], tmp_path, data_dir=fashion_dir, images=2, n_eval=16)
    pngs_ok(result.written)
    (csv_path,) = [p for p in result.written if p.suffix == ".csv"]
    rows = read_csv(csv_path)
    blur = [r for r in rows if r["kind"] == "blur"]
    assert [r["column"] for r in blur] == ["corrupted", "iteration 1", "iteration 2"]  # the tiny CNN-F has T=2
    assert all(0.0 <= float(r["mse_to_clean"]) <= 1.0 and 0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)
    assert {r["kind"] for r in rows} == {"none", "gaussian-noise", "shot-noise", "blur", "dotted-line"}


def _store_file(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "store.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_plot_command_writes_figures_and_notes(tmp_path: Path, fashion_dir: Path) -> None:
    store = _store_file(tmp_path, fig5_store())
    out = tmp_path / "figs"
    args = ["plot", "--results", str(store), "--out", str(out), "--no-restoration", "--data-dir", str(fashion_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "accuracy_vs_eps-fmnist-pgd-40.png" in result.output and "note: corruption table: skipped" in result.output
    assert (out / "confusion-fmnist-clean.png").is_file()


def test_plot_command_errors_are_one_line(tmp_path: Path, tiny_runs: dict[str, Path], fashion_dir: Path) -> None:
    missing = runner.invoke(app, ["plot", "--results", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "no results store" in missing.output and "Traceback" not in missing.output
    store = _store_file(tmp_path, fig5_store())
    args = ["plot", "--results", str(store), "--out", str(tmp_path / "f"), "--data-dir", str(fashion_dir)]
    cnn = runner.invoke(app, [*args, "--checkpoint", str(tiny_runs["cnn-fmnist-small"])])
    assert cnn.exit_code == 2 and "no feedback to restore" in cnn.output and "Traceback" not in cnn.output


def test_restoration_refuses_feedback_that_does_not_reach_pixels(tmp_path: Path, fashion_dir: Path) -> None:
    import torch

    from cnnf_bench.config import resolve, run_config_from_mapping
    from cnnf_bench.errors import UsageError
    from cnnf_bench.plots.restoration import restoration
    from cnnf_bench.train import fit

    cfg = resolve(run_config_from_mapping({
        "model": {"name": "cnnf-fmnist"}, "data": {"train_subset": 16, "test_subset": 16},
        "train": {"mode": "standard", "epochs": 1, "batch_size": 16},
    }))  # fmt: skip
    ckpt = fit(cfg, tmp_path / "k2", torch.device("cpu"), data_dir=fashion_dir).path
    with pytest.raises(UsageError, match="k=2"):
        restoration(ckpt, tmp_path, data_dir=fashion_dir)


def test_suite_model_filters_and_per_model_training(tmp_path: Path) -> None:
    from cnnf_bench.suite import load_suite

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nseeds: [0]\nconfig: {train: {mode: noise, epochs: 1}}\n"
        "models:\n  - {name: cnn-fmnist-small, train: {mode: standard}}\n  - cnn-fmnist-small\n"
        "  - {name: cnnf-fmnist-small, cycles: 1}\n  - {name: cnnf-fmnist-small, cycles: 5, eta: 0.3}\n"
        "attacks:\n  - {attack: none, models: [{name: cnnf-fmnist-small, cycles: 5}]}\n"
    )
    suite = load_suite(path)
    configs = suite.run_configs()
    assert sorted(c.train.mode for c in configs if c.model.cycles == 0) == ["noise", "standard"]
    (entry,) = suite.attacks
    assert [c.model.cycles for c in configs if entry.applies_to(c)] == [5]
    path.write_text(path.read_text().replace("mode: standard}", "mdoe: standard}"))
    with pytest.raises(Exception, match="did you mean 'mode'"):
        load_suite(path)


def test_a_step_that_scales_with_eps_keeps_one_family() -> None:
    from cnnf_bench.plots.curves import attack_families

    store = []
    for eps in (0.05, 0.1):
        for step in (2.5 * eps / 40, 0.01):  # Madry's rule (what PGD stores for step_size None) and a fixed step
            params = {"steps": 40, "step_size": step}
            store.append(record("cnn-fmnist-small", 0, 0, "1100000000", "pgd", eps, "first", params=params))
    families = attack_families(store)
    assert sorted(str(f.params["step_size"]) for f in families) == ["0.01", "0.0625 eps"]
    assert all(f.eps_values() == [0.05, 0.1] for f in families)

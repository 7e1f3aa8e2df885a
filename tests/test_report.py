"""The report: paper tables from result records, checked against hand-computed numbers."""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
from typing import Any

import pytest

from cnnf_bench.bits import pack_bits
from cnnf_bench.report import (
    CSV_HEADER,
    MIN,
    WORST_CASE,
    Cell,
    Table,
    build_tables,
    format_cell,
    format_eps,
    to_csv,
    to_latex,
    to_markdown,
)

EPS = 0.1
SQRT2 = math.sqrt(2.0)
PGD = {"eps": EPS, "step_size": 0.0355, "steps": 7, "random_start": True, "restarts": 1, "track_best": False}
SPSA = {"eps": EPS, "steps": 7, "lr": 0.01, "delta": 0.01, "samples": 128}
CNN_SHA = {0: "c0" * 32, 1: "c1" * 32}
CNNF_SHA = {0: "f0" * 32, 1: "f1" * 32}


def make_record(
    flags: list[int] | str,
    *,
    cnnf: bool,
    seed: int,
    attack: str,
    target: str,
    readout: str = "last",
    params: dict[str, Any] | None = None,
    attack_seed: int = 0,
    eps: float = EPS,
    model: str | None = None,
    test_cycles: int | None = None,
    sha: str | None = None,
) -> dict[str, Any]:
    """A schema-1 record whose per-example flags are ``flags`` (a list of 0/1 or a string like "1101")."""
    bits = [bool(int(f)) for f in flags]
    trained = 1 if cnnf else 0
    model = model or ("cnnf-fmnist" if cnnf else "cnn-fmnist")
    sha = sha or (CNNF_SHA if cnnf else CNN_SHA)[seed]
    source = None
    if attack == "transfer":
        source = {"path": f"cnn_s{seed}.pt", "sha256": CNN_SHA[seed], "model": "cnn-fmnist", "target": target}
    return {
        "schema": 1,
        "key": f"{sha[:6]}-{attack}-{target}-{readout}-{attack_seed}-{len(bits)}",
        "checkpoint": {"path": f"{model}_s{seed}/checkpoint.pt", "sha256": sha, "run": f"{model}_s{seed}"},
        "dataset": "fmnist",
        "model": model,
        "model_kwargs": {"ind": 2, "cycles": trained, "eta": 0.1, "readout": readout},
        "cycles": trained if test_cycles is None else test_cycles,
        "train_seed": seed,
        "train_mode": "adversarial",
        "protocol": "paper",
        "attack": attack,
        "params": dict(params if params is not None else ({"eps": eps} if attack == "none" else PGD)),
        "eps": eps,
        "target": target,
        "readout": readout,
        "attack_seed": attack_seed,
        "source": source,
        "subset": {"split": "test", "seed": 0, "n": len(bits)},
        "n": len(bits),
        "n_correct": sum(bits),
        "correct": pack_bits(bits),
        "max_linf": eps,
        "seconds": 1.0,
        "extras": {},
        "versions": {"cnnf_bench": "0.1.0"},
        "device": "cpu",
        "timestamp": "2026-01-01T00:00:00+00:00",
    }


def paper_records() -> list[dict[str, Any]]:
    """CNN and CNN-F (last, avg), 2 training seeds each; n = 8, SPSA on the first 4; clean stored at eps 0."""
    r = make_record
    records = []
    # CNN: first == e2e (no feedback), so PGD (first) and PGD (e2e) tie.
    cnn = {
        0: {"clean": "11111110", "pgd": "11110000", "spsa": "1101"},
        1: {"clean": "11111111", "pgd": "11111100", "spsa": "1111"},
    }
    for seed, f in cnn.items():
        records += [
            r(f["clean"], cnnf=False, seed=seed, attack="none", target="-", eps=0.0),
            r(f["pgd"], cnnf=False, seed=seed, attack="pgd", target="first"),
            r(f["pgd"], cnnf=False, seed=seed, attack="pgd", target="e2e"),
            r(f["spsa"], cnnf=False, seed=seed, attack="spsa", target="first", params=SPSA),
        ]
    # CNN-F (last); train seed 0 has two attack seeds of PGD (e2e): 0.5 and 0.75 -> 0.625 for that run.
    last = {
        0: {
            "clean": "11111110",
            "pgdf": "11111110",
            "pgde": ["11110000", "11111100"],
            "spsa": "0111",
            "tr": "11111100",
        },
        1: {"clean": "11111111", "pgdf": "11111100", "pgde": ["01111111"], "spsa": "1111", "tr": "11111110"},
    }
    # CNN-F (avg)
    avg = {
        0: {"clean": "11111111", "pgdf": "10101011", "pgde": ["01111101"], "spsa": "1101", "tr": "11111110"},
        1: {"clean": "11111110", "pgdf": "11111100", "pgde": ["11111110"], "spsa": "1110", "tr": "11111111"},
    }
    for readout, table in (("last", last), ("avg", avg)):
        for seed, f in table.items():
            kw: dict[str, Any] = {"cnnf": True, "seed": seed, "readout": readout}
            records.append(r(f["clean"], attack="none", target="-", eps=0.0, **kw))
            records.append(r(f["pgdf"], attack="pgd", target="first", **kw))
            for attack_seed, flags in enumerate(f["pgde"]):
                records.append(r(flags, attack="pgd", target="e2e", attack_seed=attack_seed, **kw))
            records.append(r(f["spsa"], attack="spsa", target="first", params=SPSA, **kw))
            records.append(r(f["tr"], attack="transfer", target="first", **kw))
    return records


def single_table(records: list[dict[str, Any]]) -> Table:
    tables = build_tables(records)
    assert len(tables) == 1
    return tables[0]


def check(cell: Cell, mean: float, std: float | None, n_runs: int = 2, n_examples: int = 8) -> None:
    assert cell.mean == pytest.approx(mean)
    if std is None:
        assert cell.std is None
    else:
        assert cell.std == pytest.approx(std)
    assert cell.n_runs == n_runs
    assert cell.n_examples == n_examples


def test_layout_follows_the_paper() -> None:
    table = single_table(paper_records())  # clean records at eps 0 join the eps 0.1 table
    assert (table.dataset, table.protocol, table.eps) == ("fmnist", "paper", EPS)
    assert table.rows == ["CNN", "CNN-F (last)", "CNN-F (avg)"]
    assert table.columns == ["Clean", "PGD (first)", "PGD (e2e)", "SPSA (first)", "Transfer"]
    assert table.attack_columns == ["PGD (first)", "PGD (e2e)", "SPSA (first)", "Transfer"]
    assert table.all_columns()[-2:] == [MIN, WORST_CASE]
    # SPSA ran on the first 4 of the 8 images: the worst case is on those 4, and says so
    # and gives the worst case over all 8 images without SPSA too (clean, PGD and transfer: by hand, e.g.
    # CNN seed 0: 11111110 & 11110000 = 4/8, seed 1: 11111111 & 11111100 = 6/8)
    assert table.notes == [
        "Worst case of CNN, CNN-F (last), CNN-F (avg): on the 4 images every included record covers "
        "(SPSA (first) ran on 4; the others on up to 8).",
        "Worst case over the 8 images, without SPSA (first): CNN 62.50 ± 17.68, CNN-F (last) 56.25 ± 8.84, "
        "CNN-F (avg) 50.00 ± 35.36.",
    ]


def test_cells_are_mean_and_sample_std_over_training_runs() -> None:
    table = single_table(paper_records())
    check(table.cell("CNN", "Clean"), (0.875 + 1.0) / 2, 0.125 / SQRT2)
    check(table.cell("CNN", "PGD (first)"), 0.625, 0.25 / SQRT2)
    check(table.cell("CNN", "SPSA (first)"), 0.875, 0.25 / SQRT2, n_examples=4)
    # attack seeds of one run are averaged first: (0.5 + 0.75) / 2 = 0.625, then with the other run's 0.875
    check(table.cell("CNN-F (last)", "PGD (e2e)"), 0.75, 0.25 / SQRT2)
    check(table.cell("CNN-F (avg)", "PGD (first)"), 0.6875, 0.125 / SQRT2)
    check(table.cell("CNN-F (avg)", "SPSA (first)"), 0.75, 0.0, n_examples=4)
    check(table.cell("CNN-F (avg)", "Transfer"), 0.9375, 0.125 / SQRT2)
    assert table.cell("CNN-F (avg)", "Clean").train_seeds == (0, 1)
    transfer = table.cell("CNN", "Transfer")
    assert not transfer.defined
    assert (transfer.mean, transfer.std, transfer.n_runs) == (None, None, 0)


def test_min_is_the_row_minimum_with_the_std_of_its_column() -> None:
    table = single_table(paper_records())
    cnn = table.cell("CNN", MIN)
    check(cnn, 0.625, 0.25 / SQRT2)
    assert cnn.source_column == "PGD (first)"  # tie with PGD (e2e): the first column wins
    last = table.cell("CNN-F (last)", MIN)
    check(last, 0.75, 0.25 / SQRT2)
    assert last.source_column == "PGD (e2e)"
    avg = table.cell("CNN-F (avg)", MIN)
    check(avg, 0.6875, 0.125 / SQRT2)
    assert avg.source_column == "PGD (first)"


def test_worst_case_is_per_example_over_clean_and_every_attack_on_shared_images() -> None:
    table = single_table(paper_records())
    # SPSA ran on the first 4 of the 8 images, so the worst case is on those 4 (the sets nest), and an
    # image counts only when it is correct clean and under every attack (every attack seed included).
    # CNN seed 0: clean 1111, PGD 1111 (x2 views), SPSA 1101 -> 3/4; seed 1: 1111 & 1111 & 1111 -> 4/4
    check(table.cell("CNN", WORST_CASE), 0.875, 0.25 / SQRT2, n_examples=4)
    # CNN-F (avg) seed 0: clean 1111, PGD first 1010, e2e 0111, SPSA 1101, transfer 1111 -> 0000 = 0/4;
    # seed 1: clean 1111, 1111, 1111, SPSA 1110, 1111 -> 3/4
    check(table.cell("CNN-F (avg)", WORST_CASE), 0.375, 0.75 / SQRT2, n_examples=4)
    # CNN-F (last) seed 0: clean 1111, first 1111, e2e 1111 and 1111, SPSA 0111, transfer 1111 -> 3/4;
    # seed 1: 1111, 1111, e2e 0111, SPSA 1111, transfer 1111 -> 3/4
    check(table.cell("CNN-F (last)", WORST_CASE), 0.75, 0.0, n_examples=4)
    # never above any column on the images both cover, run by run
    for row in table.rows:
        worst = table.cell(row, WORST_CASE)
        for column in [*table.attack_columns, "Clean"]:
            cell = table.cell(row, column)
            if cell.defined and cell.n_examples == worst.n_examples:
                assert all(w <= v for w, v in zip(worst.run_values, cell.run_values, strict=True))


def test_worst_case_counts_a_clean_mistake_as_not_robust() -> None:
    """Issue 9 item 4: an image the CNN gets wrong clean but right after PGD is not robust."""
    records = [
        make_record("01111111", cnnf=False, seed=0, attack="none", target="-", eps=0.0),
        make_record("11110000", cnnf=False, seed=0, attack="pgd", target="first"),
    ]
    table = single_table(records)
    check(table.cell("CNN", "PGD (first)"), 0.5, None, n_runs=1)
    check(table.cell("CNN", WORST_CASE), 0.375, None, n_runs=1)  # 01110000, not 11110000
    assert table.notes == []


def test_worst_case_differs_from_min_for_disjoint_failures() -> None:
    records = [
        make_record("11110000", cnnf=False, seed=0, attack="pgd", target="first"),
        make_record("00001111", cnnf=False, seed=0, attack="fgsm", target="first", params={"eps": EPS}),
    ]
    table = single_table(records)
    assert table.cell("CNN", MIN).mean == pytest.approx(0.5)
    check(table.cell("CNN", WORST_CASE), 0.0, None, n_runs=1)


def test_worst_case_leaves_out_a_run_missing_a_column() -> None:
    records = [
        r for r in paper_records() if not (r["attack"] == "transfer" and r["readout"] == "avg" and r["train_seed"] == 1)
    ]
    table = single_table(records)
    # a worst case over fewer attacks would not compare with seed 0's: seed 1 is left out (0/4 of seed 0)
    check(table.cell("CNN-F (avg)", WORST_CASE), 0.0, None, n_runs=1, n_examples=4)
    assert len(table.notes) == 3
    assert table.notes[1].endswith("CNN-F (avg) 25.00.")  # seed 0 alone: 00101000
    note = table.notes[2]
    assert note.startswith("Worst case of CNN-F (avg): train seed 1 (f1f1f1f1) lacks Transfer; left out")
    assert "- " + note in to_markdown([table])
    # that transfer cell now rests on one run: no std, and a "(n=1)" mark against the table's 2 seeds
    check(table.cell("CNN-F (avg)", "Transfer"), 0.875, None, n_runs=1)
    assert "| 87.50 (n=1) |" in to_markdown([table])
    assert 'a cell marked "(n=K)" rests on K training runs instead' in to_markdown([table])


def test_one_seed_renders_without_plus_minus() -> None:
    records = [r for r in paper_records() if r["train_seed"] == 0]
    table = single_table(records)
    check(table.cell("CNN", "PGD (first)"), 0.5, None, n_runs=1)
    assert format_cell(table.cell("CNN", "PGD (first)")) == "50.00"
    markdown = to_markdown([table])
    assert "±" not in markdown
    assert "one training seed (no std)" in markdown
    assert "(n=1)" not in markdown and "(n=K)" not in markdown
    assert "± 0.00" not in to_latex([table]) and "$\\pm$" not in to_latex([table])


def test_differing_params_split_a_column_and_extra_columns_follow_the_paper() -> None:
    strong = dict(PGD, steps=40)
    records = [
        *paper_records(),
        make_record("11000000", cnnf=False, seed=0, attack="pgd", target="first", params=strong),
        make_record("11100000", cnnf=False, seed=1, attack="pgd", target="first", params=strong),
        make_record("11111000", cnnf=False, seed=0, attack="fgsm", target="first", params={"eps": EPS}),
        make_record("00000000", cnnf=False, seed=0, attack="noise", target="-", params={"eps": EPS, "draws": 10}),
    ]
    table = single_table(records)
    assert table.columns == [
        "Clean",
        "PGD (first) [steps=7]",
        "PGD (first) [steps=40]",
        "PGD (e2e)",
        "SPSA (first)",
        "Transfer",
        "FGSM (first)",
        "Noise",
    ]
    assert "Noise" not in table.attack_columns
    check(table.cell("CNN", "PGD (first) [steps=40]"), 0.3125, 0.125 / SQRT2)
    check(table.cell("CNN-F (avg)", "PGD (first) [steps=7]"), 0.6875, 0.125 / SQRT2)
    assert not table.cell("CNN-F (avg)", "PGD (first) [steps=40]").defined
    cnn_min = table.cell("CNN", MIN)
    assert cnn_min.source_column == "PGD (first) [steps=40]"  # noise (0%) is not an attack column
    assert cnn_min.mean == pytest.approx(0.3125)
    assert table.cell("CNN", "Noise").mean == 0.0
    assert "Noise is not counted in Min or Worst case." in to_markdown([table])


def test_rows_are_disambiguated_by_model_and_test_cycles() -> None:
    records = [
        *paper_records(),
        make_record(
            "11000000", cnnf=False, seed=0, attack="pgd", target="first", model="cnn-fmnist-small", sha="s" * 9
        ),
        make_record("11100000", cnnf=True, seed=0, attack="pgd", target="first", readout="avg", test_cycles=3),
    ]
    table = single_table(records)
    assert table.rows == [
        "CNN (cnn-fmnist)",
        "CNN (cnn-fmnist-small)",
        "CNN-F (last)",
        "CNN-F (avg)",
        "CNN-F (avg, T=3)",
    ]
    check(table.cell("CNN (cnn-fmnist-small)", "PGD (first)"), 0.25, None, n_runs=1)
    check(table.cell("CNN-F (avg, T=3)", "PGD (first)"), 0.375, None, n_runs=1)
    check(table.cell("CNN (cnn-fmnist)", "PGD (first)"), 0.625, 0.25 / SQRT2)


def test_rows_are_split_by_other_model_settings_such_as_eta() -> None:
    other = make_record("00000000", cnnf=True, seed=0, attack="pgd", target="first", sha="e" * 9)
    other["model_kwargs"] = {**other["model_kwargs"], "eta": 0.3}
    cnn = make_record("10000000", cnnf=False, seed=0, attack="pgd", target="first", sha="c" * 9)
    cnn["model_kwargs"] = {**cnn["model_kwargs"], "eta": 0.3}  # no feedback: eta does not split CNN rows
    table = single_table([*paper_records(), other, cnn])
    assert table.rows == ["CNN", "CNN-F (last) (eta=0.1)", "CNN-F (last) (eta=0.3)", "CNN-F (avg)"]
    check(table.cell("CNN-F (last) (eta=0.3)", "PGD (first)"), 0.0, None, n_runs=1)
    assert not any("mixes model settings" in note for note in table.notes)


def _external(flags: str, name: str, sha: str, attack: str = "pgd", target: str = "model") -> dict[str, Any]:
    """A record of a model the tool did not train (``--model-spec`` or a suite's ``external:``)."""
    record = make_record(flags, cnnf=False, seed=0, attack=attack, target=target, model=name, sha=sha)
    record.update(train_mode="external", train_seed=None, model_kwargs={"spec": f"usermodels:{name}", "cycles": 0})
    record["readout"] = "deployed-logits"
    return record


def test_an_external_model_has_a_row_of_its_own_named_after_it() -> None:
    records = [*paper_records(), _external("10000000", "mynet", "x" * 9), _external("11000000", "CNN", "y" * 9)]
    table = single_table(records)
    # the zoo's CNN keeps its label (an external model is not "another CNN"); the external rows follow
    assert table.rows == ["CNN", "CNN-F (last)", "CNN-F (avg)", "CNN (external)", "mynet"]
    check(table.cell("mynet", "PGD (model)"), 0.125, None, n_runs=1)
    check(table.cell("CNN (external)", "PGD (model)"), 0.25, None, n_runs=1)
    assert table.cell("CNN", "PGD (model)").mean is None
    check(table.cell("CNN", "PGD (first)"), 0.625, 0.25 / SQRT2)
    assert "| mynet |" in to_markdown([table])


def test_groups_are_sorted_by_dataset_protocol_eps() -> None:
    records = paper_records()
    wide = [dict(r, eps=0.2, params=dict(r["params"], eps=0.2)) for r in records if r["attack"] != "none"]
    other = [dict(r, protocol="strong") for r in records if r["attack"] == "pgd"]
    tables = build_tables([*wide, *other, *records])
    assert [(t.dataset, t.protocol, t.eps) for t in tables] == [
        ("fmnist", "paper", 0.1),
        ("fmnist", "paper", 0.2),
        ("fmnist", "strong", 0.1),
    ]
    assert tables[1].cell("CNN", "Clean").defined  # clean accuracy joins every eps of its protocol
    assert "Clean" in tables[2].columns and not tables[2].cell("CNN", "Clean").defined


def test_markdown_states_what_the_numbers_are() -> None:
    markdown = to_markdown(build_tables(paper_records()))
    assert markdown.startswith("### fmnist, protocol paper, eps = 0.1\n")
    assert "Accuracy (%) under attack, mean ± sample std over 2 training seeds" in markdown
    assert "n = 8 test images (SPSA (first): 4; Worst case: 4)" in markdown
    assert "a cell averages only runs on the same images and settings" in markdown
    assert "Min is the row minimum over the attack columns (the paper's definition)" in markdown
    assert 'fraction of images "correct clean and under every attack of the row"' in markdown
    assert "| | Clean | PGD (first) | PGD (e2e) | SPSA (first) | Transfer | Min | Worst case |" in markdown
    # every row is marked: in these records SPSA breaks images that PGD does not (C11 on the columns)
    cnn = "| CNN † | 93.75 ± 8.84 | **62.50 ± 17.68** | 62.50 ± 17.68 | 87.50 ± 17.68 | - | 62.50 ± 17.68 |"
    assert cnn in markdown
    assert "| CNN-F (avg) † | 93.75 ± 8.84 | **68.75 ± 8.84** | 81.25 ± 8.84 | 75.00 ± 0.00 |" in markdown
    assert "| 37.50 ± 53.03 |" in markdown


def test_csv_tidy_format_round_trips() -> None:
    table = single_table(paper_records())
    rows = list(csv.DictReader(io.StringIO(to_csv([table]))))
    assert tuple(rows[0]) == CSV_HEADER
    cells = [r for r in rows if r["kind"] == "cell"]
    assert len(cells) == 3 * (5 + 2)
    by_key = {(r["row"], r["column"]): r for r in cells}
    transfer = by_key[("CNN", "Transfer")]
    assert (transfer["value"], transfer["std"], transfer["n_runs"], transfer["n_examples"]) == ("", "", "0", "0")
    assert transfer["text"] == "-"
    avg_min = by_key[("CNN-F (avg)", "Min")]
    # percent, rounded as the tables display it: 0.6875 and 0.125 / sqrt(2)
    assert (avg_min["value"], avg_min["std"], avg_min["text"]) == ("68.75", "8.84", "68.75 ± 8.84")
    assert by_key[("CNN-F (avg)", "PGD (first)")]["min_source"] == "1"
    worst = by_key[("CNN-F (avg)", "Worst case")]
    assert (worst["value"], worst["n_runs"], worst["n_examples"], worst["train_seeds"]) == ("37.50", "2", "4", "0;1")
    assert all((r["dataset"], r["protocol"], r["eps"]) == ("fmnist", "paper", "0.1") for r in rows)
    assert {r["unreliable"] for r in cells} == {"†"}  # SPSA breaks images PGD does not (C11 on the columns)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("flags") == 3 and "caption" in kinds and "strength" in kinds and "legend" in kinds


def test_latex_bolds_the_row_minimum() -> None:
    latex = to_latex(build_tables(paper_records()))
    assert "\\begin{tabular}{lccccccc}" in latex
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex
    assert "CNN-F (avg)$^\\dagger$ & 93.75 $\\pm$ 8.84 & \\textbf{68.75 $\\pm$ 8.84} & 81.25 $\\pm$ 8.84" in latex
    assert "CNN-F (last)$^\\dagger$ & 93.75 $\\pm$ 8.84 & 81.25 $\\pm$ 8.84 & \\textbf{75.00 $\\pm$ 17.68}" in latex
    cnn_line = next(line for line in latex.splitlines() if line.startswith("CNN$^\\dagger$ &"))
    assert " & -- & " in cnn_line


def test_format_eps() -> None:
    assert format_eps(0.1) == "0.1"
    assert format_eps(8 / 255) == "8/255"


def test_empty_input() -> None:
    assert build_tables([]) == []
    assert to_markdown([]) == ""
    assert to_csv([]).strip() == ",".join(CSV_HEADER)


def test_report_does_not_import_torch() -> None:
    code = "import sys, cnnf_bench.report; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_strength_line_quotes_the_recorded_cost_and_leaves_it_out_for_old_records() -> None:
    from cnnf_bench.strength import evaluation_strength

    pgd = {"attack": "pgd", "n": 8, "params": {"steps": 7, "step_size": 0.0355}}
    spsa = {"attack": "spsa", "n": 4, "params": {"eps": 0.1, "nb_iter": 7, "lr": 0.005, "nb_sample": 64}}
    with_cost = [
        {**pgd, "cost": {"forward": 7, "backward": 7, "queries": 0, "seconds": 1.0}},
        {**pgd, "cost": {"forward": 9.04, "backward": 7, "queries": 0, "seconds": 1.0}},
        {**spsa, "cost": {"forward": 896, "backward": 0, "queries": 0, "seconds": 53.5}},
    ]
    line = evaluation_strength(with_cost)
    assert "PGD: 7 steps x 1 restart (step 0.0355), n=8, 7 fwd+bwd + 2.04 fwd/img;" in line
    assert line.endswith("lr 0.005 (reach 35% of eps), n=4, 896 fwd/img")
    old = evaluation_strength([pgd, {**pgd, "cost": {"forward": 7, "backward": 7}}])
    assert old == "PGD: 7 steps x 1 restart (step 0.0355), n=8"

"""Evaluation: every registered attack is valid and seeded, records are complete, the store is respected."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnf_bench.attacks import ATTACKS, check_adversarial
from cnnf_bench.bits import unpack_bits
from cnnf_bench.checkpoint import load_checkpoint
from cnnf_bench.errors import AttackError, CheckpointError, ConfigError, UnknownNameError, UsageError
from cnnf_bench.evaluate import EvalRequest, evaluate_checkpoint, make_attack
from cnnf_bench.results import ResultsStore

#: cheap settings per attack so that the registry-wide tests stay fast
FAST: dict[str, dict[str, object]] = {
    "pgd": {"steps": 3, "restarts": 2},
    "transfer": {"steps": 3},
    "spsa": {"nb_iter": 2, "nb_sample": 8, "max_batch_size": 8, "lr": 0.05},
    "square": {"max_iter": 5},
    "apgd-ce": {"max_iter": 3},
    "apgd-dlr": {"max_iter": 3},
    "art-pgd": {"steps": 3},
    "noise": {"draws": 3},
    "autoattack": {"n_iter": 3, "n_queries": 10},
    "bim": {"steps": 3},
    # minimum-norm L2 attacks: no L-inf budget (eps 1.0), scored at an L2 budget
    "cw-l2": {"eps": 1.0, "binary_search_steps": 2, "steps": 3},
    "deepfool": {"eps": 1.0, "steps": 3},
    "hsj": {"eps": 1.0, "max_eval": 10, "steps": 2, "init_eval": 10},
}


@pytest.fixture(scope="module")
def model_and_batch(
    tiny_runs: dict[str, Path], fashion_dir: Path
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    from cnnf_bench.data import load_split

    model = load_checkpoint(tiny_runs["cnnf-fmnist-small"]).build_model()
    x, y = load_split("fmnist", False, fashion_dir).batch(torch.arange(12))
    return model, x, y


# HopSkipJump repeats because art_session seeds the fresh np.random.RandomState() ART's _init_sample makes
@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_attack_stays_valid_and_is_deterministic_for_a_seed(
    name: str, model_and_batch: tuple[torch.nn.Module, torch.Tensor, torch.Tensor]
) -> None:
    model, x, y = model_and_batch
    attack = make_attack(name, {"eps": 0.1, **FAST.get(name, {})})
    runs = [attack.run(model.first, x, y, torch.Generator().manual_seed(s), model) for s in (3, 3, 4)]
    for x_adv in runs:
        assert check_adversarial(x_adv, x, attack.eps, name) <= attack.eps + 1e-6
    assert torch.equal(runs[0], runs[1])
    # BIM (no random start), C&W-L2 and DeepFool are deterministic algorithms: the seed has nothing to change
    deterministic = ("none", "fgsm", "art-fgsm", "bim", "cw-l2", "deepfool")
    if name not in deterministic and not (name in ("pgd", "transfer") and not attack.random_start):
        assert not torch.equal(runs[0], runs[2]) or (name in ("spsa", "hsj") and torch.equal(runs[0], x))


def test_validity_check_catches_broken_examples() -> None:
    x = torch.full((2, 1, 4, 4), 0.5)
    with pytest.raises(AttackError, match="eps-ball"):
        check_adversarial(x + 0.2, x, 0.1, "t")
    with pytest.raises(AttackError, match=r"\[0, 1\]"):
        check_adversarial(torch.full_like(x, 1.05), torch.ones_like(x), 0.1, "t")
    with pytest.raises(AttackError, match="non-finite"):
        check_adversarial(x * float("nan"), x, 0.1, "t")


def test_attack_parameters_are_validated() -> None:
    with pytest.raises(ConfigError, match="eps"):
        make_attack("pgd", {"eps": -0.1})
    with pytest.raises(ConfigError, match="steps"):
        make_attack("pgd", {"eps": 0.1, "steps": 0})
    with pytest.raises(ConfigError, match="no parameter 'stepz'"):
        make_attack("pgd", {"eps": 0.1, "stepz": 3})
    with pytest.raises(UnknownNameError, match="did you mean pgd"):
        make_attack("pgdd", {})


def _eval(path: Path, store: ResultsStore, fashion_dir: Path, **kw: object) -> list[dict]:
    request = EvalRequest(**{"n": 24, "batch_size": 10, **kw})  # type: ignore[arg-type]
    return evaluate_checkpoint(path, request, store, "cpu", fashion_dir)


def test_records_views_readouts_and_the_store(tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.jsonl")
    cnnf = tiny_runs["cnnf-fmnist-small"]
    made = _eval(cnnf, store, fashion_dir, attack="pgd", targets=("first", "e2e"), readouts=("last", "avg"))
    assert {(r["target"], r["readout"]) for r in made} == {(t, r) for t in ("first", "e2e") for r in ("last", "avg")}
    for r in made:
        flags = unpack_bits(r["correct"], r["n"])
        assert r["n"] == 24 and flags.sum() == r["n_correct"] and r["max_linf"] <= 0.1 + 1e-6
        assert r["params"]["steps"] == 7 and r["params"]["step_size"] == 0.0355  # the paper protocol
        assert r["cycles"] == 2 and r["train_seed"] == 0 and r["dataset"] == "fmnist"
    assert len({r["key"] for r in made}) == 4
    # a second call finds everything in the store
    assert _eval(cnnf, store, fashion_dir, attack="pgd", targets=("first", "e2e"), readouts=("last", "avg")) == []
    assert len(store.records()) == 4
    # a smaller subset is a prefix of the larger one: the same clean flags on the common images
    clean_24 = _eval(cnnf, store, fashion_dir, attack="none", readouts=("avg",))[0]
    clean_10 = _eval(cnnf, store, fashion_dir, attack="none", readouts=("avg",), n=10)[0]
    assert (unpack_bits(clean_24["correct"], 24)[:10] == unpack_bits(clean_10["correct"], 10)).all()


def test_pgd_at_eps_zero_is_clean_and_pgd_beats_fgsm(tiny_runs: dict[str, Path], fashion_dir: Path) -> None:
    for path in tiny_runs.values():
        clean = _eval(path, None, fashion_dir, attack="none", n=64)[0]  # type: ignore[arg-type]
        zero = _eval(path, None, fashion_dir, attack="pgd", params={"eps": 0.0}, n=64)[0]  # type: ignore[arg-type]
        assert zero["correct"] == clean["correct"]
        fgsm = _eval(path, None, fashion_dir, attack="fgsm", params={"eps": 0.2}, n=64)[0]  # type: ignore[arg-type]
        pgd = _eval(path, None, fashion_dir, attack="pgd", params={"eps": 0.2, "steps": 10}, n=64)[0]  # type: ignore[arg-type]
        assert pgd["n_correct"] <= fgsm["n_correct"] < clean["n_correct"]


def test_cnn_views_share_one_computation(tiny_runs: dict[str, Path], fashion_dir: Path) -> None:
    made = _eval(tiny_runs["cnn-fmnist-small"], None, fashion_dir, attack="pgd", targets=("first", "e2e"))  # type: ignore[arg-type]
    assert len(made) == 2 and made[0]["correct"] == made[1]["correct"] and made[0]["seconds"] == made[1]["seconds"]
    assert made[0]["readout"] == "last"


def test_transfer_uses_the_cnn_baseline_of_the_same_seed(tiny_runs: dict[str, Path], fashion_dir: Path) -> None:
    made = _eval(tiny_runs["cnnf-fmnist-small"], None, fashion_dir, attack="transfer", readouts=("avg",))  # type: ignore[arg-type]
    source = load_checkpoint(tiny_runs["cnn-fmnist-small"])
    assert made[0]["source"]["sha256"] == source.sha256 and made[0]["source"]["model"] == "cnn-fmnist-small"
    with pytest.raises(UsageError, match="itself a CNN baseline"):
        _eval(tiny_runs["cnn-fmnist-small"], None, fashion_dir, attack="transfer")  # type: ignore[arg-type]


def test_transfer_without_a_baseline_is_a_clear_error(
    tiny_runs: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    lonely = tmp_path / "cnnf-fmnist-small-T2_standard_s0"
    lonely.mkdir()
    src = tiny_runs["cnnf-fmnist-small"]
    for f in src.parent.iterdir():
        (lonely / f.name).write_bytes(f.read_bytes())
    with pytest.raises(CheckpointError, match="train it with `cnnf-bench train --model cnn-fmnist-small"):
        _eval(lonely / "checkpoint.pt", None, fashion_dir, attack="transfer")  # type: ignore[arg-type]


def test_test_time_cycles_override(tiny_runs: dict[str, Path], fashion_dir: Path) -> None:
    made = _eval(tiny_runs["cnnf-fmnist-small"], None, fashion_dir, attack="none", cycles=0, readouts=("last",))  # type: ignore[arg-type]
    first = _eval(tiny_runs["cnnf-fmnist-small"], None, fashion_dir, attack="none", cycles=5, readouts=("last",))  # type: ignore[arg-type]
    assert made[0]["cycles"] == 0 and first[0]["cycles"] == 5 and made[0]["key"] != first[0]["key"]


def test_records_carry_what_the_attack_spent(tiny_runs: dict[str, Path], fashion_dir: Path) -> None:
    cnnf = tiny_runs["cnnf-fmnist-small"]
    pgd = _eval(cnnf, None, fashion_dir, attack="pgd", params={"steps": 3}, targets=("e2e",), readouts=("avg",))[0]  # type: ignore[arg-type]
    assert pgd["cost"]["forward"] == 3 and pgd["cost"]["backward"] == 3 and pgd["cost"]["queries"] == 0
    assert pgd["cost"]["seconds"] == pytest.approx(pgd["seconds"], abs=1e-3)
    spsa = _eval(
        cnnf, None, fashion_dir, attack="spsa", params={"nb_iter": 2, "nb_sample": 6}, targets=("first",), n=8
    )[0]  # type: ignore[arg-type]
    assert spsa["cost"]["forward"] == 2 * 2 * 6 and spsa["cost"]["backward"] == 0
    noise = _eval(cnnf, None, fashion_dir, attack="noise", params={"draws": 4}, readouts=("avg",))[0]  # type: ignore[arg-type]
    assert noise["cost"] == {"forward": 0, "backward": 0, "queries": 4, "seconds": noise["cost"]["seconds"]}
    clean = _eval(cnnf, None, fashion_dir, attack="none", readouts=("avg",))[0]  # type: ignore[arg-type]
    assert (clean["cost"]["forward"], clean["cost"]["backward"], clean["cost"]["queries"]) == (0, 0, 0)

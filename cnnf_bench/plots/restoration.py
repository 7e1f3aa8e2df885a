"""Restoration by feedback (the paper's Figure 6d and the poster's "CNN-F repairs distorted images").

For a CNN-F whose feedback reconstructs pixels (encoder depth k=0, as ``cnnf-fmnist-small``), each row
shows a clean test image, a corrupted copy, then the image the feedback generates after each
iteration (``g_t(0)``, mapped from the model's [-1, 1] scale to [0, 1]), with the class predicted at
that iteration. The CSV holds, over a larger set of test images, the mean squared distance of the
corrupted and of each generated image to the clean one, and the accuracy at each iteration.

For an FPD model (Li et al. 2020) the columns are the clean image, the corrupted copy (with the class the
front pass alone predicts), the restoration ``x_hat`` of the first call (with the deployed prediction)
and the restoration of ``x_hat`` by a second call (what FPD's second training phase sees).

This is the one figure family that needs torch (it runs the model); torch is imported inside the
functions so that importing :mod:`cnnf_bench.plots` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.patches import Patch

from cnnf_bench.classes import CLASS_NAMES
from cnnf_bench.errors import UsageError
from cnnf_bench.plots.data import Record, trained_cycles
from cnnf_bench.plots.figure import PlotResult, new_figure, save, slug, unique_stem, write_csv

#: the corruptions of Figure 6d and the poster
KINDS = ("gaussian-noise", "shot-noise", "blur", "dotted-line")
CSV_HEADER = ("kind", "severity", "column", "iteration", "mse_to_clean", "accuracy", "n")
CORRECT, WRONG = "#1a9850", "#d73027"


def pick_checkpoint(records: Sequence[Record], bases: Sequence[Path]) -> Path | None:
    """A stored CNN-F run that reconstructs pixels (k=0), most trained cycles and lowest seed first."""
    candidates = []
    for r in records:
        kwargs = r.get("model_kwargs") or {}
        path = Path(str((r.get("checkpoint") or {}).get("path", "")))
        if kwargs.get("ind") != 0 or trained_cycles(r) == 0 or not path.name:
            continue
        found = path if path.is_absolute() else next((b / path for b in bases if (b / path).exists()), None)
        if found is not None and found.exists():
            candidates.append((-trained_cycles(r), int(r.get("train_seed") or 0), str(found)))
    return Path(min(candidates)[2]) if candidates else None


def _show(ax: Any, image: Any) -> None:
    pixels = image.permute(1, 2, 0).cpu().numpy()
    if pixels.shape[-1] == 1:
        ax.imshow(pixels[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(pixels.clip(0.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])


def restoration(
    checkpoint: Path,
    out_dir: Path,
    *,
    data_dir: Path | None = None,
    severity: int = 3,
    images: int = 3,
    n_eval: int = 200,
    seed: int = 0,
    device: Any = "cpu",
    kinds: Sequence[str] = KINDS,
    taken: set[str] | None = None,
) -> PlotResult:
    """Restoration grid (PNG) and per-iteration distances and accuracies (CSV) for one checkpoint.

    Raises:
        UsageError: the model has no feedback, or its feedback does not reconstruct pixels (k > 0).
    """
    import torch

    from cnnf_bench.attacks.corruptions import check_severity, corrupt
    from cnnf_bench.checkpoint import load_checkpoint
    from cnnf_bench.data import eval_indices, load_split
    from cnnf_bench.runtime import configure_torch, generator

    taken = set() if taken is None else taken
    check_severity(severity)
    if images < 1 or n_eval < images:
        raise UsageError(f"restoration needs 1 <= images <= n_eval, got images {images} and n_eval {n_eval}")
    configure_torch()
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model(device)
    model.eval()
    fpd = getattr(model, "family", None) == "fpd"
    if not fpd and model.cycles == 0:
        raise UsageError(f"{ckpt.path} is a CNN ({ckpt.model_name}, 0 feedback cycles): it has no feedback to restore")
    if not fpd and model.ind != 0:
        raise UsageError(
            f"restoration needs a CNN-F whose feedback reconstructs pixels (encoder depth k=0); {ckpt.model_name} "
            f"({ckpt.path}) has k={model.ind}, so its feedback generates layer-{model.ind} features, not images"
        )
    dataset = str(ckpt.config["data"]["dataset"])
    names = CLASS_NAMES.get(dataset, tuple(str(i) for i in range(model.num_classes)))
    test = load_split(dataset, False, data_dir)
    index = eval_indices(len(test), n_eval, 0)
    x, y = test.subset(index).batch(torch.arange(len(index)), device)
    cycles = 2 if fpd else model.cycles
    fig, axes = new_figure(len(kinds) * images * (cycles + 2), cols=cycles + 2, size=(1.25, 1.45))
    rows: list[list[Any]] = []
    with torch.no_grad():
        clean_pred = model(x).argmax(1)
        rows.append(["none", 0, "clean", 0, 0.0, float((clean_pred == y).float().mean()), len(y)])
        for k, kind in enumerate(kinds):
            xc = corrupt(x, kind, severity, generator(seed, device))
            if fpd:
                first = model.run(xc)
                second = model.run(first.restored)
                columns = [
                    ("corrupted", 0, xc, model.first(xc)),
                    ("x-hat, pass 1", 1, first.restored.clamp(0.0, 1.0), first.logits),
                    ("x-hat, pass 2", 2, second.restored.clamp(0.0, 1.0), second.logits),
                ]
            else:
                traj = model.run(xc)
                generated = [((r + 1.0) / 2.0).clamp(0.0, 1.0) for r in traj.recons]
                columns = [("corrupted", 0, xc, traj.logits[0])]
                columns += [(f"iteration {t + 1}", t + 1, g, traj.logits[t + 1]) for t, g in enumerate(generated)]
            for name, t, img, logits in columns:
                mse = float(((img - x) ** 2).mean())
                acc = float((logits.argmax(1) == y).float().mean())
                rows.append([kind, severity, name, t, mse, acc, len(y)])
            for i in range(images):
                panels = [("clean", x[i], int(clean_pred[i]))]
                panels += [(name, img[i], int(logits[i].argmax())) for name, _, img, logits in columns]
                for c, (name, img, pred) in enumerate(panels):
                    ax = axes[(k * images + i) * (cycles + 2) + c]
                    _show(ax, img)
                    ok = pred == int(y[i])
                    ax.text(
                        0.03,
                        0.97,
                        names[pred][:10],
                        transform=ax.transAxes,
                        va="top",
                        fontsize=6,
                        color="white",
                        bbox={"fc": CORRECT if ok else WRONG, "ec": "none", "pad": 1.0},
                    )
                    if k == 0 and i == 0:
                        ax.set_title(name, fontsize=7)
                    if c == 0:
                        ax.set_ylabel(f"{kind}\n{names[int(y[i])][:10]}", fontsize=7)
                    if k == len(kinds) - 1 and i == images - 1:
                        ax.set_xlabel(name, fontsize=7)
    fig.legend(
        handles=[
            Patch(color=CORRECT, label="predicted class (correct)"),
            Patch(color=WRONG, label="predicted class (wrong)"),
        ],
        loc="outside lower center",
        ncols=2,
        fontsize="small",
    )
    mode = ckpt.config["train"]["mode"]
    seed_text = f"{mode} training, seed {ckpt.config['seed']}"
    corruption = f"corruption severity {severity} of 5 (not L-inf bounded; pixels in [0, 1])"
    tail = (
        f"{images} of n={len(y)} test images (mean squared distances to the clean images and accuracies over all n "
        "in the CSV)"
    )
    if fpd:
        title = (
            f"{dataset}: restoration by {ckpt.model_name} (FPD, {seed_text})\n{corruption}; columns: clean, corrupted "
            "(class of the front pass alone), restored x-hat of the first call (deployed class), x-hat of a second "
            f"call on it (clipped to [0, 1] for display); {tail}"
        )
    else:
        title = (
            f"{dataset}: restoration by the feedback of {ckpt.model_name} (T={cycles}, k=0, eta {model.eta:g}, "
            f"{seed_text})\n{corruption}; columns: clean, corrupted, image generated after each iteration (g_t, "
            f"shown as (g_t + 1) / 2 clipped to [0, 1]) with the class predicted there; {tail}"
        )
    stem = unique_stem(out_dir, f"restoration-{slug(ckpt.path.parent.name)}", taken)
    result = PlotResult()
    result.written.append(save(fig, out_dir / f"{stem}.png", title))
    result.written.append(write_csv(out_dir / f"{stem}.csv", CSV_HEADER, rows))
    return result

"""One line per table saying how strong its attacks were, from the records' own parameters (torch-free).

A robust-accuracy number means little without the attack's budget: "PGD: 7 steps x 1 restart" and
"PGD: 40 steps x 5 restarts, best iterate" are different claims. The line lists, per attack, every
distinct setting found in the table's records, with the subset sizes they ran on, e.g.
``PGD: 7 steps x 1 restart (step 0.0355), n=1000, 7 fwd+bwd/img; SPSA: 7 iterations x 128 samples, lr 0.005
(reach 35% of eps), n=50, 1,792 fwd/img``. The passes per image come from the records' ``cost`` (what the
attack spent, counted while it ran); records written before that field get the line without them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]

#: the order attacks are described in (others follow alphabetically)
ORDER = ("pgd", "fgsm", "apgd-ce", "apgd-dlr", "spsa", "square", "transfer", "noise", "art-pgd", "art-fgsm")
NAMES = {
    "pgd": "PGD",
    "fgsm": "FGSM",
    "apgd-ce": "APGD-CE",
    "apgd-dlr": "APGD-DLR",
    "spsa": "SPSA",
    "square": "Square",
    "transfer": "Transfer",
    "noise": "Noise",
    "art-pgd": "ART-PGD",
    "art-fgsm": "ART-FGSM",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _pgd(p: Mapping[str, Any]) -> str:
    text = f"{_plural(int(p.get('steps', 0)), 'step')} x {_plural(int(p.get('restarts', 1)), 'restart')}"
    extra = [f"step {float(p['step_size']):.3g}"] if p.get("step_size") is not None else []
    if not p.get("random_start", True):
        extra.append("no random start")
    if p.get("track_best"):
        extra.append("best iterate")
    if p.get("loss", "ce") != "ce":
        extra.append(f"{p['loss']} loss")
    return text + (f" ({', '.join(extra)})" if extra else "")


def _spsa(p: Mapping[str, Any]) -> str:
    eps = float(p.get("eps") or 0.0)
    lr, iters = float(p.get("lr", 0.0)), int(p.get("nb_iter", 0))
    reach = f" (reach {100 * iters * lr / eps:.0f}% of eps)" if eps > 0 else ""
    loss = f", {p['loss']} loss" if p.get("loss", "ce") != "ce" else ""
    return f"{_plural(iters, 'iteration')} x {_plural(int(p.get('nb_sample', 0)), 'sample')}, lr {lr:g}{reach}{loss}"


def _square(p: Mapping[str, Any]) -> str:
    queries = int(p.get("max_iter", 0))
    text = f"{queries} {'query' if queries == 1 else 'queries'} (p_init {p.get('p_init', '?')})"
    restarts = int(p.get("nb_restarts", 1))
    return text + (f" x {restarts} restarts" if restarts > 1 else "")


def _apgd(p: Mapping[str, Any]) -> str:
    return f"{_plural(int(p.get('max_iter', 0)), 'iteration')} x {_plural(int(p.get('nb_random_init', 1)), 'restart')}"


def _transfer(p: Mapping[str, Any]) -> str:
    return "PGD " + _pgd(p)


DESCRIBE: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "pgd": _pgd,
    "art-pgd": _pgd,
    "transfer": _transfer,
    "spsa": _spsa,
    "square": _square,
    "apgd-ce": _apgd,
    "apgd-dlr": _apgd,
    "fgsm": lambda p: "1 step of eps",
    "art-fgsm": lambda p: "1 step of eps",
    "noise": lambda p: _plural(int(p.get("draws", 1)), "draw"),
}


def _describe(attack: str, params: Mapping[str, Any]) -> str:
    describe = DESCRIBE.get(attack)
    if describe is None:
        shown = {k: v for k, v in params.items() if k != "eps"}
        return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "default settings"
    return describe(params)


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def _cost(costs: list[Mapping[str, Any]]) -> str:
    """What the setting spent per image (the most over its records), from records that carry a ``cost``:
    ``7 fwd+bwd/img``, ``896 fwd/img``; empty when any record predates the field."""
    if not costs or any(not isinstance(c, Mapping) for c in costs):
        return ""
    try:
        fwd, bwd, queries = (max(float(c.get(k, 0.0)) for c in costs) for k in ("forward", "backward", "queries"))
    except (TypeError, ValueError):
        return ""
    parts = [f"{_number(bwd)} fwd+bwd"] if bwd > 0 else []
    if fwd - bwd > 1e-9:
        parts.append(f"{_number(fwd - bwd)} fwd")
    if queries > 0:
        parts.append(f"{_number(queries)} deployed")
    return f", {' + '.join(parts)}/img" if parts else ""


def evaluation_strength(records: Sequence[Record]) -> str:
    """Per attack of the records (clean excluded): each distinct setting and the subset sizes it ran on."""
    settings: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for record in records:
        attack = str(record["attack"])
        if attack == "none":
            continue
        text = _describe(attack, record.get("params") or {})
        entry = settings[attack].setdefault(text, {"n": set(), "sources": set(), "costs": []})
        entry["n"].add(int(record.get("n", 0)))
        entry["costs"].append(record.get("cost"))
        source = record.get("source")
        if attack == "transfer" and isinstance(source, Mapping) and source.get("model"):
            entry["sources"].add(str(source["model"]))
    parts = []
    for attack in sorted(settings, key=lambda a: (ORDER.index(a) if a in ORDER else len(ORDER), a)):
        texts = []
        for setting, entry in settings[attack].items():
            source = f" on {', '.join(sorted(entry['sources']))}" if entry["sources"] else ""
            n = "/".join(str(n) for n in sorted(entry["n"]))
            texts.append(f"{setting}{source}, n={n}{_cost(entry['costs'])}")
        parts.append(f"{NAMES.get(attack, attack.upper())}: {' / '.join(texts)}")
    return "; ".join(parts)

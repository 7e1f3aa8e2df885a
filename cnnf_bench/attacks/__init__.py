"""Attacks on [0, 1] images with L-inf budgets in [0, 1] units; importing this fills the registry."""

from cnnf_bench.attacks import art_attacks, art_fpd, autoattack, corruptions, feature, pgd, simple, spsa, transfer
from cnnf_bench.attacks.base import ATTACKS, Attack, check_adversarial

__all__ = [
    "ATTACKS",
    "Attack",
    "art_attacks",
    "art_fpd",
    "autoattack",
    "check_adversarial",
    "corruptions",
    "feature",
    "pgd",
    "simple",
    "spsa",
    "transfer",
]

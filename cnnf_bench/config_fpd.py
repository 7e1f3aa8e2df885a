"""The ``fpd:`` section of a run config: FPD's two-phase training settings, their choices and checks.

Only FPD models have the section (:func:`cnnf_bench.config.resolve` fills it in for them and leaves it
None for the others, so their stored configs and job ids do not mention it).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnf_bench.config_checks import check_choice, check_positive
from cnnf_bench.errors import ConfigError


@dataclass(frozen=True)
class FPDConfig:
    """FPD's two-phase training (fpd-reference.md section 1.3), the released MNIST settings by default.

    ``gate`` is the threshold T on the restoration MSE: above it only the restoration loss is
    back-propagated, into everything but the classifier head; ``noise_eps`` is eps0 of the uniform
    input noise; ``ce_weight`` / ``mse_weight`` are alpha1 / alpha2. The optimiser is the released
    Adamax (lr 1e-3, weight decay 1e-5, gradient-norm clip 10), constant learning rate. With
    ``train.mode: adversarial``, PGD examples (the CNN-F recipe: ``train.eps``, ``train.step``,
    ``train.pgd_steps``, random start) against the deployed pipeline join every batch from epoch
    ``adv_delay`` on.
    """

    gate: float = 3.0
    noise_eps: float = 0.01
    ce_weight: float = 1.0
    mse_weight: float = 1.0
    optimizer: str = "adamax"
    lr: float = 1e-3
    weight_decay: float = 1e-5
    grad_clip: float | None = 10.0
    adv_delay: int = 10


FPD_OPTIMIZERS = ("adamax", "adam", "sgd")
FPD_MODES = ("standard", "adversarial")
#: FPD's epoch budget when ``train.epochs`` is not given (the released "up to 100 epochs")
FPD_EPOCHS = 100


def resolve_fpd(fpd: FPDConfig | None) -> FPDConfig:
    """FPD's training section (defaults where absent), validated."""
    fpd = fpd or FPDConfig()
    check_choice(fpd.optimizer, FPD_OPTIMIZERS, "fpd.optimizer")
    for name in ("gate", "lr", "grad_clip"):
        check_positive(getattr(fpd, name), f"fpd.{name}")
    for name in ("noise_eps", "ce_weight", "mse_weight", "weight_decay", "adv_delay"):
        check_positive(getattr(fpd, name), f"fpd.{name}", allow_zero=True)
    if fpd.noise_eps > 1:
        raise ConfigError(f"fpd.noise_eps is in [0, 1] pixel units and must be <= 1, got {fpd.noise_eps}")
    return fpd

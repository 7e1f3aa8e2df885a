"""The CNN-F inference loop shared by every architecture (reference section 3).

A subclass says how to encode (layers below the encoder depth k, run once), decode (layers from k to
the logits) and generate (the feedback pathway from the logits back to layer k). This class runs the
alternating inference: a plain feedforward pass, then for each of T cycles a feedback pass, the input
update ``h_t = h_{t-1} + eta (g_t - h_{t-1})`` at layer k, and an adaptive forward pass from layer k.

Inputs are [0, 1] pixels; the model maps them to the original code's [-1, 1] scale internally.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from cnnf_bench.errors import ConfigError
from cnnf_bench.feedback import Pass
from cnnf_bench.zoo.classifier import Classifier, Forward, register_view, straight_through

Readout = Literal["last", "avg"]
READOUTS: tuple[str, ...] = ("last", "avg")

#: the attack views of a CNN-F, in report order, with their help lines
FEEDBACK_VIEWS: dict[str, str] = {
    "first": "the first feedforward pass (original forward_adv)",
    "e2e": "unrolled through all cycles, last-iteration logits (original run_cycles_adv)",
    "e2e-avg": "unrolled through all cycles, mean logits of all iterations (what the avg readout deploys)",
    "bpda": "deployed logits forward (the scored readout), first-pass gradient backward (straight-through, "
    "Athalye et al. 2018)",
    "any-iter": "unrolled through all cycles, the logits of every iteration v_0..v_T (B x (T+1) x C): losses take "
    "per example a smooth maximum over iterations (adaptive attack on test-time iteration, Croce et al. 2022)",
}
#: views whose value is a feature, not logits (for the feature attack), with their help lines
FEATURE_VIEWS: dict[str, str] = {
    "recon": "feature view: the feedback's layer-k reconstruction g_T(k) of the last cycle, flattened "
    "(pixels at k=0); attacked by `feature`",
    "latent": "feature view: the layer-k input h_T of the last iteration (what the last forward pass sees), "
    "flattened; attacked by `feature`",
}
for _name, _help in {**FEEDBACK_VIEWS, **FEATURE_VIEWS}.items():
    register_view(_name, _help)
#: from this many test-time cycles on, gradients through the cycles use activation checkpointing by default
CHECKPOINT_FROM_CYCLES = 8
#: the view that differentiates what each readout deploys
DEPLOYED_VIEWS: dict[str, str] = {"last": "e2e", "avg": "e2e-avg"}


@dataclass
class Trajectory:
    """Everything one inference call produced, for training losses and figures.

    Attributes:
        logits: logits of every iteration, ``v_0`` (feedforward) to ``v_T``.
        h0: the layer-k feature of the first pass (the reconstruction target).
        blocks: intermediate first-pass features, in forward order (e.g. block1, block2).
        recons: the feedback's reconstruction at layer k, one per cycle (``g_t(k)``, t = 1..T).
        block_recons: per cycle, the feedback at each of ``blocks``, in the same order.
        inputs: the mixed layer-k input of every iteration (``h_0`` to ``h_T``).
    """

    logits: list[Tensor]
    h0: Tensor
    blocks: list[Tensor]
    recons: list[Tensor] = field(default_factory=list)
    block_recons: list[list[Tensor]] = field(default_factory=list)
    inputs: list[Tensor] = field(default_factory=list)

    def readout(self, how: str) -> Tensor:
        """The deployed logits: the last iteration's, or the mean over all iterations."""
        if how == "last":
            return self.logits[-1]
        return torch.stack(self.logits).mean(dim=0)


class FeedbackNet(Classifier):
    """Base class of CNN / CNN-F models; ``model(x)`` is the whole, stateless inference.

    Args:
        num_classes: number of output classes.
        ind: encoder depth k; layers below k have no feedback and run once.
        cycles: number of feedback cycles T (0 gives a plain CNN).
        eta: online-update rate, used at layer k and in every AdaReLU.
        readout: the deployed logits, ``last`` (v_T) or ``avg`` (mean of v_0..v_T).
    """

    max_ind: int = 0
    in_shape: tuple[int, int, int] = (1, 28, 28)

    def __init__(
        self, num_classes: int = 10, ind: int = 0, cycles: int = 0, eta: float = 0.1, readout: str = "avg"
    ) -> None:
        super().__init__()
        if not 0 <= ind <= self.max_ind:
            raise ConfigError(f"{type(self).__name__} supports encoder depth k in 0..{self.max_ind}, got {ind}")
        if cycles < 0:
            raise ConfigError(f"cycles must be >= 0, got {cycles}")
        if not 0.0 <= eta <= 1.0:
            raise ConfigError(f"eta must be in [0, 1], got {eta}")
        if readout not in READOUTS:
            raise ConfigError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        self.num_classes = num_classes
        self.ind = ind
        self.cycles = cycles
        self.eta = eta
        self.readout = readout
        #: cycles per activation-checkpointed segment of :meth:`run` (0: off; None: automatic, see
        #: :meth:`checkpoint_segment`); the values and gradients are the same either way
        self.checkpoint_cycles: int | None = None

    # -- architecture-specific pieces -------------------------------------------------------
    def encode(self, z: Tensor, state: Pass) -> Tensor:
        """Layers below k on the [-1, 1] input; returns the layer-k feature ``h``."""
        raise NotImplementedError

    def decode(self, h: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        """Layers from k to the logits; returns the logits and the intermediate block features."""
        raise NotImplementedError

    def generate(self, logits: Tensor, state: Pass) -> tuple[Tensor, list[Tensor]]:
        """Feedback pathway from the logits; returns ``g(k)`` and the feedback at each block."""
        raise NotImplementedError

    # -- the inference loop -----------------------------------------------------------------
    def run(self, x: Tensor, cycles: int | None = None) -> Trajectory:
        """Alternating inference on [0, 1] images, keeping every iteration (reference section 3).

        With a checkpoint segment (:meth:`checkpoint_segment`) the cycles run in activation-checkpointed
        segments (:mod:`cnnf_bench.zoo.unroll`): the same values and the same exact end-to-end gradients,
        with the memory of the backward pass growing with the number of segments instead of cycles.
        """
        cycles = self.cycles if cycles is None else cycles
        state = Pass(eta=self.eta)
        h = self.encode(x * 2.0 - 1.0, state)
        logits, blocks = self.decode(h, state)
        traj = Trajectory(logits=[logits], h0=h, blocks=blocks, inputs=[h])
        segment = self.checkpoint_segment(cycles)
        if segment:
            from cnnf_bench.zoo.unroll import run_checkpointed

            run_checkpointed(self, traj, state, cycles, segment)
            return traj
        for _ in range(cycles):
            h, logits = self.cycle(traj, state, h, logits)
        return traj

    def cycle(self, traj: Trajectory, state: Pass, h: Tensor, logits: Tensor) -> tuple[Tensor, Tensor]:
        """One feedback cycle: generate, update layer k, adaptive forward; appends to ``traj``."""
        recon, block_recons = self.generate(logits, state)
        h = h + self.eta * (recon - h)
        logits, _ = self.decode(h, state)
        traj.logits.append(logits)
        traj.recons.append(recon)
        traj.block_recons.append(block_recons)
        traj.inputs.append(h)
        return h, logits

    def checkpoint_segment(self, cycles: int) -> int:
        """Cycles per checkpointed segment for a call with ``cycles`` (0: plain autograd).

        ``checkpoint_cycles`` None (automatic): checkpointing only where a gradient flows through
        many cycles at evaluation (eval mode, grad enabled, at least ``CHECKPOINT_FROM_CYCLES`` cycles),
        in segments of ``ceil(sqrt(T))`` cycles, so memory grows with about ``sqrt(T)``; training keeps
        plain autograd (its speed is unchanged).
        """
        if self.checkpoint_cycles is not None:
            return min(self.checkpoint_cycles, cycles) if cycles > 0 else 0
        if self.training or not torch.is_grad_enabled() or cycles < CHECKPOINT_FROM_CYCLES:
            return 0
        return math.ceil(math.sqrt(cycles))

    # -- the Classifier interface -----------------------------------------------------------------
    def readouts(self) -> tuple[str, ...]:
        """``last`` and ``avg``, the deployed one first (the same function for a CNN, which has no cycles)."""
        return (self.readout, *(r for r in READOUTS if r != self.readout))

    def readout_logits(self, x: Tensor, readouts: Sequence[str]) -> dict[str, Tensor]:
        """Every requested readout from one inference pass (the trajectory holds every iteration)."""
        traj = self.run(x)
        return {r: traj.readout(r) for r in readouts}

    def logits(self, x: Tensor, readout: str | None = None) -> Tensor:
        return self.run(x).readout(self.readout if readout is None else readout)

    def views(self) -> tuple[str, ...]:
        """The logit views, then (with cycles) the feature views."""
        return tuple(FEEDBACK_VIEWS) + (tuple(FEATURE_VIEWS) if self.cycles > 0 else ())

    def view_kind(self, name: str) -> str:
        return "features" if name in FEATURE_VIEWS else "logits"

    @property
    def single_function(self) -> bool:
        """Without cycles every view is the plain feedforward network."""
        return self.cycles == 0

    def deployed_view(self, readout: str | None = None) -> str:
        return DEPLOYED_VIEWS[self.readout if readout is None else readout]

    def view_uses_readout(self, name: str) -> bool:
        """``bpda``'s forward value is the scored readout's logits, so its examples depend on the readout."""
        return name == "bpda" and not self.single_function

    def view(self, name: str, readout: str | None = None) -> Forward:
        name = self.resolve_view(name, readout)
        if name == "first":
            return self.first
        if name == "e2e":
            return self.e2e
        if name == "e2e-avg":
            return lambda x: self.run(x).readout("avg")
        if name == "any-iter":
            return lambda x: torch.stack(self.run(x).logits, dim=1)
        if name == "recon":
            return lambda x: self.run(x).recons[-1].flatten(1)
        if name == "latent":
            return lambda x: self.run(x).inputs[-1].flatten(1)
        how = self.readout if readout is None else readout

        def bpda(x: Tensor) -> Tensor:
            first = self.first(x)
            with torch.no_grad():
                full = self.run(x).readout(how)
            return straight_through(full, first)

        return bpda

    def first(self, x: Tensor) -> Tensor:
        """Logits of the first feedforward pass (the original ``forward_adv``)."""
        return self.run(x, cycles=0).logits[0]

    def e2e(self, x: Tensor) -> Tensor:
        """Last-iteration logits, unrolled through all cycles (the original ``run_cycles_adv``)."""
        return self.run(x).logits[-1]

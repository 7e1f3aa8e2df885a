"""What every model under evaluation offers: deployed logits by readout, and named attack views.

The evaluator, the automatic checks and the attacks never look inside a model: they ask it for

- the *deployed* inference, ``logits(x, readout)``, which scores every example whatever produced it
  (a model may deploy several readouts, e.g. CNN-F's ``last`` and ``avg``; ``readout`` is the default);
- *views* (targets): named functions of the input that an attacker differentiates or queries, such as
  CNN-F's first pass or its unrolled iterations. ``deployed_view(readout)`` names the view whose value
  is the deployed logits, which is what an attack should differentiate unless told otherwise.

A model whose views are all one function (a plain CNN) says so with ``single_function``; the evaluator
then runs an attack once and stores it under every requested view. CNN-F (:class:`FeedbackNet`), FPD and
user models wrapped through the public API all subclass :class:`Classifier`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from cnnf_bench.errors import UsageError

Forward = Callable[[Tensor], Tensor]

#: every view name any model family offers, with a line of help (``cnnf-bench attacks`` lists them)
VIEW_HELP: dict[str, str] = {}
#: the alias a user may give instead of a view name: the view that computes the deployed logits
DEPLOYED = "deployed"


def register_view(name: str, help_text: str) -> None:
    """Make a view name known (for listings and for validating suites before any model is built)."""
    VIEW_HELP.setdefault(name, help_text)


register_view(DEPLOYED, "alias: the view that computes what the model deploys (e2e-avg for CNN-F avg, ...)")


def straight_through(value: Tensor, surrogate: Tensor) -> Tensor:
    """``value`` forward, the gradient of ``surrogate`` backward (BPDA, Athalye et al. 2018)."""
    return surrogate + (value - surrogate).detach()


class Classifier(nn.Module):
    """Base class of every model the benchmark evaluates (see the module docstring).

    Subclasses set ``num_classes`` and ``readout`` (the deployed readout) and implement
    :meth:`readout_logits` and :meth:`view`; the rest has sensible defaults.
    """

    num_classes: int = 10
    readout: str = "last"
    in_shape: tuple[int, ...] = (1, 28, 28)

    # -- deployed inference ---------------------------------------------------------------------
    def readouts(self) -> tuple[str, ...]:
        """The readouts this model can be scored with (the deployed one first)."""
        return (self.readout,)

    def check_readout(self, readout: str | None) -> str:
        """``readout`` (or the deployed one when None), or a usage error naming the model's readouts."""
        readout = self.readout if readout is None else readout
        if readout not in self.readouts():
            raise UsageError(f"readout must be one of {', '.join(self.readouts())} for this model, got {readout!r}")
        return readout

    def readout_logits(self, x: Tensor, readouts: Sequence[str]) -> dict[str, Tensor]:
        """Deployed logits for several readouts, from as few inference passes as the model needs."""
        raise NotImplementedError

    def logits(self, x: Tensor, readout: str | None = None) -> Tensor:
        """The deployed logits with ``readout`` (default: the model's own)."""
        readout = self.readout if readout is None else readout
        return self.readout_logits(x, (readout,))[readout]

    def forward(self, x: Tensor) -> Tensor:
        """The deployed inference: logits by the model's readout."""
        return self.logits(x)

    # -- attack views -----------------------------------------------------------------------------
    def views(self) -> tuple[str, ...]:
        """Names of the views this model offers, the deployed one included."""
        raise NotImplementedError

    @property
    def single_function(self) -> bool:
        """Whether every view is the same function (then an attack is run once for all of them)."""
        return len(self.views()) == 1

    def deployed_view(self, readout: str | None = None) -> str:
        """The view whose value is the deployed logits with ``readout``."""
        return self.views()[0]

    def resolve_view(self, name: str, readout: str | None = None) -> str:
        """A concrete view name: ``deployed`` becomes :meth:`deployed_view`; unknown names are errors."""
        if name == DEPLOYED:
            return self.deployed_view(readout)
        if name not in self.views():
            raise UsageError(
                f"{type(self).__name__} has no view {name!r} (it has: {', '.join((*self.views(), DEPLOYED))})"
            )
        return name

    def view(self, name: str, readout: str | None = None) -> Forward:
        """The function of view ``name``; ``readout`` matters for views whose value is the deployed logits."""
        raise NotImplementedError

    def view_kind(self, name: str) -> str:
        """``logits`` for a view that returns logits (or an iteration stack of them), ``features`` for a
        feature view (CNN-F's ``recon``), which only feature attacks take."""
        return "logits"

    def view_uses_readout(self, name: str) -> bool:
        """Whether view ``name`` computes something that depends on the scored readout (then an attack through
        it is run once per readout, even when the attack itself never consults the deployed model)."""
        return False

    def num_unique_parameters(self) -> int:
        """Number of distinct parameter scalars (a tied weight counts once)."""
        return sum(p.numel() for p in self.parameters())


def predict_labels(model: Classifier, x: Tensor, readouts: Sequence[str]) -> dict[str, Tensor]:
    """Deployed predicted labels per readout, without gradients."""
    with torch.no_grad():
        return {r: v.argmax(1) for r, v in model.readout_logits(x, readouts).items()}

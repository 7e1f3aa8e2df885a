"""Any torch classifier as a :class:`Classifier`, so the tool's attacks, views and checks apply to it.

A user's model is an ``nn.Module`` mapping [0, 1] images to logits. An iterative defence usually has
more functions of the input worth attacking than the one it deploys (its first pass, the unrolled
iterations, averaged logits); the user names them as *views*, plain functions of ``x``, and says which
one the model deploys. Without extra views the model is a single function, like a plain CNN, and every
attack runs once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from torch import Tensor, nn

from cnnf_bench.errors import ConfigError
from cnnf_bench.zoo.classifier import DEPLOYED, Classifier, Forward, register_view

#: the view of the wrapped module's own ``forward``
MODULE_VIEW = "model"
#: the one readout of a wrapped model: its deployed logits
WRAPPED_READOUT = "deployed-logits"

register_view(MODULE_VIEW, "a wrapped user model's own forward (public API, --model-spec)")


class WrappedClassifier(Classifier):
    """A user's ``nn.Module`` (on [0, 1] inputs) with optional extra views and a deployed one.

    Args:
        module: the classifier; ``module(x)`` gives logits. It is put in evaluation mode.
        views: extra named functions of ``x`` returning logits (e.g. ``{"first": net.first_pass}``); the
            module's own forward is always the view ``model``.
        deployed: the view whose logits the model deploys and every example is scored with (default
            ``model``).
        num_classes: number of classes (chance level for the checks).
        in_shape: shape of one image (C, H, W).
    """

    readout = WRAPPED_READOUT

    def __init__(
        self,
        module: nn.Module,
        views: Mapping[str, Callable[[Tensor], Tensor]] | None = None,
        deployed: str = MODULE_VIEW,
        num_classes: int = 10,
        in_shape: Sequence[int] = (1, 28, 28),
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise ConfigError(f"the model to wrap must be a torch nn.Module, got {type(module).__name__}")
        extra = dict(views or {})
        for name, fn in extra.items():
            if name in (MODULE_VIEW, DEPLOYED) or not name or not isinstance(name, str):
                raise ConfigError(f"view name {name!r} is reserved or empty; choose another")
            if not callable(fn):
                raise ConfigError(f"view {name!r} must be a function of x returning logits")
        self.module = module.eval()
        self._views: dict[str, Forward] = {MODULE_VIEW: self.module, **extra}
        if deployed not in self._views:
            raise ConfigError(f"deployed view {deployed!r} is not one of {', '.join(self._views)}")
        self._deployed = deployed
        self.num_classes = num_classes
        self.in_shape = tuple(int(d) for d in in_shape)
        for name in extra:
            register_view(name, "a view of a wrapped user model")

    def readout_logits(self, x: Tensor, readouts: Sequence[str]) -> dict[str, Tensor]:
        for readout in readouts:
            self.check_readout(readout)
        return dict.fromkeys(readouts, self._views[self._deployed](x))

    def views(self) -> tuple[str, ...]:
        """The deployed view first, then the others in the order given."""
        return (self._deployed, *(v for v in self._views if v != self._deployed))

    def deployed_view(self, readout: str | None = None) -> str:
        return self._deployed

    def view(self, name: str, readout: str | None = None) -> Forward:
        return self._views[self.resolve_view(name, readout)]

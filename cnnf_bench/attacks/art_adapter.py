"""Run adversarial-robustness-toolbox (ART) attacks on a view (evaluation-rigor, "Using ART correctly").

A view (``forward(x) -> logits`` on [0, 1] images, e.g. ``model.first``) is wrapped in a small
``nn.Module`` facade that returns one logits tensor, and handed to ART's ``PyTorchClassifier`` with
cross-entropy, ``clip_values=(0, 1)``, channels first and no preprocessing at all, so that ART keeps its
torch-native PGD path. :func:`art_generate` always passes the true labels (with ``y=None`` ART attacks
its own predictions), and :func:`art_session` pins the CUDA device, seeds ART's global random sources
from the attack's generator (restoring them afterwards) and silences ART's logger.

ART is imported lazily inside the functions: it takes seconds to import, and neither ``cnnf-bench
--help`` nor ``import cnnf_bench.attacks`` may pay for it.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from cnnf_bench.attacks.base import Forward
from cnnf_bench.errors import AttackError

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier

ART_LOGGER = "art"


class ViewModule(nn.Module):
    """``nn.Module`` facade over a view: ``forward(x)`` returns the view's logits, one tensor.

    The view's own module (if any) is deliberately *not* registered as a submodule, so ART's
    ``.to(device)`` and ``.train(False)`` calls never touch the caller's model.
    """

    view: Forward

    def __init__(self, view: Forward) -> None:
        super().__init__()
        object.__setattr__(self, "view", view)  # plain attribute, not a registered submodule

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float64:  # HopSkipJump works in float64; the models are float32
            x = x.to(torch.float32)
        out: Any = self.view(x)
        if not isinstance(out, Tensor):
            raise AttackError(
                f"the attacked view must return one logits tensor, got {type(out).__name__} "
                "(ART would take the last element of a tuple as the logits)"
            )
        if out.dim() != 2:
            raise AttackError(
                f"ART attacks take one logits vector per example; this view returns shape {tuple(out.shape)} "
                "(any-iter stacks every iteration's logits: attack it with pgd, fgsm or spsa)"
            )
        return out


def owner_module(forward: Forward) -> nn.Module | None:
    """The ``nn.Module`` a view belongs to (the module itself, or a bound method's ``self``), if any."""
    if isinstance(forward, ViewModule):
        return owner_module(forward.view)
    wrapped = getattr(forward, "__wrapped__", None)  # a counting or functools wrapper
    if wrapped is not None:
        return owner_module(wrapped)
    if isinstance(forward, nn.Module):
        return forward
    owner = getattr(forward, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def quiet_art() -> None:
    """Keep ART's own logger below INFO (its attacks log success rates and label choices)."""
    logger = logging.getLogger(ART_LOGGER)
    if logger.level == logging.NOTSET or logger.level < logging.WARNING:
        logger.setLevel(logging.WARNING)


def art_classifier(
    forward: Forward, input_shape: tuple[int, ...], nb_classes: int, device: torch.device | str
) -> PyTorchClassifier:
    """An ART ``PyTorchClassifier`` over ``forward`` (inputs in [0, 1], channels first, no preprocessing).

    Args:
        forward: the view, ``forward(x) -> logits`` (a callable or an ``nn.Module``).
        input_shape: one sample's shape, e.g. ``(1, 28, 28)``.
        nb_classes: number of logits.
        device: where the view runs; ART runs on CUDA (``gpu``) when it is a CUDA device.
    """
    from art.estimators.classification import PyTorchClassifier

    quiet_art()
    device = torch.device(device)
    # ART picks the *current* CUDA device for "gpu": make it the view's one while the classifier is built
    pinned = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
    with pinned:
        return PyTorchClassifier(
            model=ViewModule(forward),
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(int(d) for d in input_shape),
            nb_classes=int(nb_classes),
            optimizer=None,
            channels_first=True,
            clip_values=(0.0, 1.0),
            preprocessing_defences=None,
            postprocessing_defences=None,
            preprocessing=None,
            device_type="gpu" if device.type == "cuda" else "cpu",
        )


@contextlib.contextmanager
def frozen_parameters(module: nn.Module | None) -> Iterator[None]:
    """Turn off parameter gradients while ART runs (its ``loss.backward()`` would fill ``.grad``), then restore."""
    if module is None:
        yield
        return
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def seed_from(generator: torch.Generator) -> int:
    """A 31-bit seed drawn from ``generator`` (on its own device)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device).item())


@contextlib.contextmanager
def seeded_fresh_random_states(seed: int) -> Iterator[None]:
    """Make ``np.random.RandomState()`` without a seed deterministic while the block runs, then restore it.

    ART's HopSkipJump (``_init_sample``) and Boundary attacks draw their starting points from a fresh
    ``np.random.RandomState()``, which numpy seeds from the operating system's entropy, so seeding the
    global generator does not make them repeat. Inside the block the name ``np.random.RandomState``
    refers to a subclass (``isinstance`` checks still hold) whose unseeded instances are seeded with
    ``[seed, i]``, ``i`` counting the instances made: each image's start differs, and the same seed gives
    the same starts. A seeded construction is left as it is. ART is not edited; the original class is
    put back on the way out, also after an error.
    """
    original = np.random.RandomState
    made = [0]

    class SeededRandomState(original):  # type: ignore[misc, valid-type]
        def __init__(self, seed_arg: Any = None) -> None:
            if seed_arg is None:
                seed_arg = [seed, made[0]]
                made[0] += 1
            super().__init__(seed_arg)

    np.random.RandomState = SeededRandomState  # type: ignore[misc, assignment]
    try:
        yield
    finally:
        np.random.RandomState = original  # type: ignore[misc]


@contextlib.contextmanager
def art_session(device: torch.device | str, generator: torch.Generator | None) -> Iterator[None]:
    """Context for building and running ART attacks reproducibly on ``device``.

    Seeds numpy's and Python's global generators (ART draws random starts, Square's windows and signs
    from them) and torch's, all from one draw of ``generator``, and restores every global state after;
    seeds the fresh ``np.random.RandomState()`` HopSkipJump draws its start from (see
    :func:`seeded_fresh_random_states`) from the same draw; pins the current CUDA device to ``device``;
    enables autograd; silences ART's logger.
    """
    quiet_art()
    device = torch.device(device)
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda = device.type == "cuda"
    pinned = torch.cuda.device(device) if cuda else contextlib.nullcontext()
    fork_devices = [device.index if device.index is not None else torch.cuda.current_device()] if cuda else []
    with pinned, torch.random.fork_rng(devices=fork_devices), torch.enable_grad(), contextlib.ExitStack() as stack:
        if generator is not None:
            # importing ART (and what it loads) makes one unseeded np.random.RandomState(); inside the seeded
            # block that would shift the fresh states of the first attack of a process only, so it is
            # imported first. Without a generator (AutoAttack's use: device and state only) nothing is
            # seeded and ART is not needed.
            import art.attacks.evasion
            import art.estimators.classification  # noqa: F401

            seed = seed_from(generator)
            np.random.seed(seed)
            random.seed(seed)
            torch.random.default_generator.manual_seed(seed)  # only the states fork_rng restores
            if cuda:
                torch.cuda.manual_seed(seed)  # the pinned (current) device
            stack.enter_context(seeded_fresh_random_states(seed))
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def art_generate(attack: Any, x: Tensor, y: Tensor) -> Tensor:
    """``attack.generate`` on ``x`` with the TRUE labels ``y``; returns a tensor on ``x``'s device and dtype.

    Passing ``y`` is the label-leaking guard's off switch: with ``y=None`` ART attacks the model's own
    predictions, which silently changes the attack on misclassified images. Parameters of the model
    behind the attack's classifier get no gradient while it runs.
    """
    if y is None:
        raise AttackError("art_generate needs the true labels")
    x_np = x.detach().to("cpu", torch.float32).numpy()
    y_np = y.detach().to("cpu", torch.int64).numpy()
    if y_np.shape != (x_np.shape[0],):
        raise AttackError(f"labels of shape {tuple(y_np.shape)} for {x_np.shape[0]} images")
    estimator = getattr(attack, "estimator", None)
    view = getattr(estimator, "model", None)
    with frozen_parameters(owner_module(view) if view is not None else None), torch.enable_grad():
        out = attack.generate(x=x_np, y=y_np)
    return torch.as_tensor(np.asarray(out, dtype=np.float32)).to(device=x.device, dtype=x.dtype)

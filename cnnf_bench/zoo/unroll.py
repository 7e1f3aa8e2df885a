"""CNN-F's feedback cycles under activation checkpointing: exact end-to-end gradients in less memory.

Backpropagating through T cycles keeps every cycle's activations, so the memory of an end-to-end attack
grows linearly with T. Here the cycles run in segments under ``torch.utils.checkpoint`` (non-reentrant):
only each segment's boundary is kept and the segment is recomputed during the backward pass. The result
and its gradient are those of the plain loop (a test checks it); the cost is one more forward pass.

A cycle reads and writes the per-call latent state (:class:`~cnnf_bench.feedback.Pass`: ReLU masks, the
feedback that last reached each layer, pool indices). A recomputed segment must see the state its first
run saw, so the state enters and leaves each segment as explicit tensors, rebuilt into a fresh ``Pass``
inside it; the segment is then a pure function of its inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor
from torch.utils.checkpoint import checkpoint

from cnnf_bench.feedback import Pass

if TYPE_CHECKING:
    from cnnf_bench.zoo.base import FeedbackNet, Trajectory

#: (slot id, key) of every tensor of a Pass, in a fixed order
Layout = list[tuple[int, str]]


def _flatten(state: Pass) -> tuple[Layout, list[Tensor], dict[int, dict[str, Any]]]:
    """The state's tensors in a fixed order, and its non-tensor entries (e.g. map sizes)."""
    layout: Layout = []
    tensors: list[Tensor] = []
    static: dict[int, dict[str, Any]] = {}
    for slot_id, slot in state._slots.items():
        for key, value in slot.items():
            if isinstance(value, Tensor):
                layout.append((slot_id, key))
                tensors.append(value)
            else:
                static.setdefault(slot_id, {})[key] = value
    return layout, tensors, static


def _rebuild(eta: float, layout: Layout, tensors: tuple[Tensor, ...], static: dict[int, dict[str, Any]]) -> Pass:
    state = Pass(eta=eta)
    for slot_id, values in static.items():
        state._slots.setdefault(slot_id, {}).update(values)
    for (slot_id, key), value in zip(layout, tensors, strict=True):
        state._slots.setdefault(slot_id, {})[key] = value
    return state


def run_checkpointed(model: FeedbackNet, traj: Trajectory, state: Pass, cycles: int, segment: int) -> None:
    """Run ``cycles`` cycles after the first pass in ``traj`` (state ``state``), ``segment`` per checkpoint."""
    from cnnf_bench.zoo.base import Trajectory

    h, logits = traj.inputs[-1], traj.logits[-1]
    done = 0
    while done < cycles:
        n = min(segment, cycles - done)
        layout, tensors, static = _flatten(state)
        shape: dict[str, Any] = {}

        def body(
            h: Tensor,
            logits: Tensor,
            *flat: Tensor,
            n: int = n,
            layout: Layout = layout,
            static: dict[int, dict[str, Any]] = static,
            shape: dict[str, Any] = shape,
        ) -> tuple[Tensor, ...]:
            inner = _rebuild(model.eta, layout, flat, static)
            part = Trajectory(logits=[], h0=traj.h0, blocks=[])
            for _ in range(n):
                h, logits = model.cycle(part, inner, h, logits)
            out_layout, out_tensors, out_static = _flatten(inner)
            shape.update(layout=out_layout, static=out_static, blocks=len(part.block_recons[0]))
            per_cycle = [
                t for i in range(n) for t in (part.logits[i], part.recons[i], part.inputs[i], *part.block_recons[i])
            ]
            return (h, logits, *per_cycle, *out_tensors)

        out = checkpoint(body, h, logits, *tensors, use_reentrant=False)
        h, logits = out[0], out[1]
        width = 3 + shape["blocks"]
        for i in range(n):
            row = out[2 + i * width : 2 + (i + 1) * width]
            traj.logits.append(row[0])
            traj.recons.append(row[1])
            traj.inputs.append(row[2])
            traj.block_recons.append(list(row[3:]))
        state = _rebuild(model.eta, shape["layout"], tuple(out[2 + n * width :]), shape["static"])
        done += n

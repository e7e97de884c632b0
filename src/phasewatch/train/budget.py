"""Memory a run will need, estimated before its model is built for real, so that a config too
large for the machine is refused with numbers instead of filling the memory.

The model is built on PyTorch's `meta` device (shapes, no storage): its parameters, their
gradients and the optimiser's state give the training state; one forward pass of a training batch
and of the test split on `meta`, with a hook summing every module's output, gives the activations
(kept for the backward pass: counted twice for training). The task's tensors are counted as built.
An estimate, not a bound: allocator slack and the probes' own temporaries come on top, which is
why a run is refused above `SHARE` of the memory available, not above all of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from phasewatch.config import ExperimentConfig
from phasewatch.errors import UserError
from phasewatch.models import build_model
from phasewatch.tasks import Task

SHARE = 0.8  # refuse above this share of the memory available


def estimate(config: ExperimentConfig, task: Task) -> dict[str, int]:
    """Bytes by part: task, parameters, gradients + optimiser state, training activations, probe
    activations (the two activation parts are absent when the model cannot run on `meta`)."""
    # Building draws initial weights: on a forked RNG, so the real build after it draws the same.
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            model = build_model(config.model, task)
    except (RuntimeError, TypeError, ValueError, OverflowError, MemoryError) as error:  # e.g. a shape past int64
        first = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"model: a model of these sizes cannot be built ({first}); make it smaller") from None
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    states = {"adamw": 2, "sgd": 1 if config.train.momentum else 0}[config.train.optimizer]
    parts = {
        "task": sum(t.numel() * t.element_size() for split in (task.train, task.test) for t in (split.inputs, split.targets)),
        "parameters": parameters,
        "gradients and optimiser state": parameters * (1 + states),
    }
    if (activations := _activations(model, task.train.inputs, batch_rows(task, config.train.batch_size))) is not None:
        parts["training activations"] = 2 * activations  # the forward's outputs, then their gradients
    if (activations := _activations(model, task.test.inputs, len(task.test))) is not None:
        parts["probe activations"] = activations
    return parts


def batch_rows(task: Task, batch_size: int) -> int:
    """Rows in one training batch (`loop.batch_at`): `batch_size` (0: the whole split), at most the
    split's size unless the task streams fresh data."""
    rows = batch_size or len(task.train)
    return rows if task.stream is not None else min(rows, len(task.train))


def _activations(model: torch.nn.Module, inputs: torch.Tensor, rows: int) -> int | None:
    """Bytes of every module output in one forward pass over `rows` rows shaped like `inputs`."""
    total = 0

    def add(module, args, output) -> None:
        nonlocal total
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        total += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, torch.Tensor))

    hooks = [module.register_forward_hook(add) for module in model.modules()]
    try:
        model(torch.empty((rows, *inputs.shape[1:]), dtype=inputs.dtype, device="meta"))
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return None  # a model holding real tensors (e.g. the task's features) cannot run on meta
    finally:
        for hook in hooks:
            hook.remove()
    return total


def available(device: torch.device, meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes the device can still give: free CUDA memory, else the system's MemAvailable (None
    where neither is known)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def check(
    config: ExperimentConfig, task: Task, device: torch.device, free: Callable[[torch.device], int | None] | None = None
) -> None:
    """UserError, naming the estimate, its largest part and the memory available, when the run
    would need more than `SHARE` of it. `free`: the memory available (default `available`)."""
    parts = estimate(config, task)
    need, have = sum(parts.values()), (free or available)(device)
    if have is None or need <= SHARE * have:
        return
    largest = max(parts, key=parts.__getitem__)
    raise UserError(
        f"config: this run needs about {_size(need)} of memory ({largest} {_size(parts[largest])}), "
        f"more than {SHARE:.0%} of the {_size(have)} available on {device.type}; make the model, "
        "task or batch (train.batch_size) smaller"
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    unit = min(int(math.log(n, 1024)), 4)
    return f"{n / 1024**unit:.1f} {['B', 'KiB', 'MiB', 'GiB', 'TiB'][unit]}"

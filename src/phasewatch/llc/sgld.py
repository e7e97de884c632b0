"""The local learning coefficient (LLC) by SGLD: Lau et al. 2023, "The local learning coefficient: a
singularity-aware complexity measure" (Algorithm 1), as used by Furman & Lau 2024.

At the current weights w* the estimate is

    λ̂(w*) = nβ · (E_w[L_n(w)] − L_n(w*)),    w ~ p(w) ∝ exp(−nβ·L_n(w) − γ/2·‖w − w*‖²)

with L_n the mean training loss (`loss_fn`), the expectation taken as the mean over `draws` SGLD
steps after `burn_in`, per chain; `mean` and `std` (ddof 1) are over the chains' estimates. Each chain
starts at w* and moves by

    w ← w − ε/2·(nβ·∇L_B(w) + γ·(w − w*)) + N(0, ε·I)

(L_B: the mean loss on the step's batch; the whole data when full batch). Lau et al. write the step
with ∇log p (minus the loss gradient) and +γ(w* − w); with the loss gradient, as here, both signs flip
and the localising pull is towards w*, as in devinterp's SGLD (the issue's "+γ(w* − w)" next to a
loss gradient would push the chains away from w*).

nβ convention (everywhere in `phasewatch.llc`): the default is nβ = n / log n with n the number of
training samples, i.e. Watanabe's WBIC inverse temperature β* = 1/log n as in Lau et al. devinterp
defaults nβ to b / log b with b the DataLoader's batch size (`devinterp.utils.default_nbeta`), which
equals ours only for full batches; pass `n_beta` explicitly to reproduce a devinterp run.

Chains run at once: their weights are one (chains, d) fp32 tensor (fp32 at least, so that the small
updates accumulate in full precision whatever the model's dtype), and one step of all chains is
`vmap(grad_and_value(loss_fn ∘ functional_call))`, `randomness="different"`. `loss_fn` gets a proxy
that calls the model with the chain's weights and forwards attribute access to the real model, whose
own weights are never touched (buffers are shared: a model whose forward writes buffers, e.g.
BatchNorm in train mode, must be put in eval mode first). The model is used in the mode it is in.

Departures from the source and from devinterp, for speed or clarity:
- batches: tensor data with `batch_size` give each chain its own minibatches (a fresh permutation
  per epoch); a DataLoader's batches are drawn in its order and shared by all chains (devinterp
  gives each chain its own pass over the loader: the same batches unless it shuffles);
- L_n(w*) is the mean over the whole data (`loss_fn` over batches, weighted by their rows: it must be
  a mean over its batch; devinterp: the mean of the first `chains` batches); the loss trace is L_B(w_{t+1}) after each step (devinterp records L_B(w_t) before it);
- `acceptance` is a diagnostic only, nothing is rejected: the Metropolis–Hastings probability with
  which MALA would accept each SGLD step under U(w) = nβ·L_B(w) + γ/2·‖w − w*‖², both ends on the
  step's batch. With minibatches this costs a second gradient evaluation per step.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap
from torch.utils.data import DataLoader

from phasewatch.errors import UserError
from phasewatch.llc.diagnostics import diagnose

Batch = Any  # what one element of the data is: a tensor, a tuple of tensors, or a DataLoader's batch


@dataclass
class LLCResult:
    """One estimate. Traces are (chains, burn_in + draws), step t's entry taken after step t."""

    mean: float
    std: float
    per_chain: np.ndarray  # (chains,)
    init_loss: float  # L_n(w*)
    loss_trace: np.ndarray  # L_B(w_{t+1})
    distance_trace: np.ndarray  # ‖w_{t+1} − w*‖
    acceptance: np.ndarray  # MALA acceptance probability of step t
    epsilon: float
    n_beta: float
    gamma: float
    chains: int
    draws: int
    burn_in: int
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-safe: arrays as lists, NaN and ±inf as None."""
        return {key: _json(value) for key, value in self.__dict__.items()}


def _json(value):
    if isinstance(value, np.ndarray):
        return _json(value.tolist())
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


class _Chain:
    """What `loss_fn` gets as its model: calling it runs the model with one chain's weights; any other
    attribute is the real model's (so `model.config` works, but `model.weight` is w*, not the chain's)."""

    def __init__(self, model: nn.Module, params: dict[str, torch.Tensor]):
        self._model = model
        self._params = params

    def __call__(self, *args, **kwargs):
        return functional_call(self._model, self._params, args, kwargs)

    def __getattr__(self, name: str):
        return getattr(self._model, name)


class _Batches:
    """The batch of each step and the vmap in_dim of its tensors (None: shared by every chain)."""

    def __init__(self, data, batch_size: int | None, chains: int, device: torch.device, seed: int):
        self.loader = data if isinstance(data, DataLoader) else None
        self.device = device
        if self.loader is not None:
            if batch_size is not None:
                raise UserError(
                    f"batch_size: {batch_size} is not allowed with a DataLoader (set the batch size on the DataLoader)"
                )
            self.n = len(self.loader.dataset)  # type: ignore[arg-type]
            if not self.n:
                raise UserError("data: an empty DataLoader is not allowed")
            self.stream = _forever(self.loader)
            self.in_dim: int | None = None
            return
        tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
        if not tensors or not all(isinstance(t, torch.Tensor) and t.dim() > 0 and len(t) for t in tensors):
            raise UserError("data: not allowed (a non-empty tensor, a tuple of them with samples first, or a DataLoader)")
        self.n = len(tensors[0])
        if any(len(t) != self.n for t in tensors):
            raise UserError(f"data: first dimensions {[len(t) for t in tensors]} differ (one sample per row in every tensor)")
        self.single = isinstance(data, torch.Tensor)
        self.rows = tuple(t.to(device) for t in tensors)
        self.size = self.n if batch_size is None else min(batch_size, self.n)
        self.in_dim = None if self.size == self.n else 0
        self.chains = chains
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.empty(chains, 0, dtype=torch.long)

    @property
    def fixed(self) -> bool:
        """Every step's batch is the whole data."""
        return self.loader is None and self.in_dim is None

    def _pack(self, tensors: tuple[torch.Tensor, ...]) -> Batch:
        return tensors[0] if self.single else tensors

    def next(self) -> Batch:
        if self.loader is not None:
            return _to(next(self.stream), self.device)
        if self.fixed:
            return self._pack(self.rows)
        if self.order.shape[1] < self.size:  # a new epoch: each chain its own permutation
            fresh = torch.rand(self.chains, self.n, generator=self.generator).argsort(dim=1)
            self.order = torch.cat([self.order, fresh], dim=1)
        index, self.order = self.order[:, : self.size].to(self.device), self.order[:, self.size :]
        return self._pack(tuple(t[index] for t in self.rows))  # (chains, size, ...)

    def full_loss(self, loss_fn: Callable, model: nn.Module) -> float:
        """L_n at the model's own weights: the row-weighted mean of `loss_fn` over the data in batches."""
        if self.loader is not None:
            batches = (_to(b, self.device) for b in self.loader)
        else:
            step = self.size
            batches = (self._pack(tuple(t[i : i + step] for t in self.rows)) for i in range(0, self.n, step))
        total, rows = 0.0, 0
        with torch.no_grad():
            for batch in batches:
                count = _rows(batch)
                total += float(loss_fn(model, batch)) * count
                rows += count
        return total / rows


def _forever(loader: DataLoader):
    """The loader's batches, pass after pass (not itertools.cycle: that would keep the first pass's
    batches in memory and repeat its shuffle)."""
    while True:
        yield from loader


def _to(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    return batch


def _rows(batch: Batch) -> int:
    """The number of samples in a batch: the length of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    values = batch.values() if isinstance(batch, dict) else batch
    return next(_rows(v) for v in values if isinstance(v, (torch.Tensor, tuple, list, dict)))


def estimate(
    model: nn.Module,
    data,
    loss_fn: Callable[[Any, Batch], torch.Tensor],
    *,
    epsilon: float = 1e-3,
    n_beta: float | None = None,
    gamma: float = 100.0,
    chains: int = 4,
    draws: int = 200,
    burn_in: int = 100,
    seed: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> LLCResult:
    """λ̂ at `model`'s current weights (see the module docstring). `data`: a tensor, a tuple of tensors
    (samples first) or a DataLoader; `loss_fn(model, batch)` → the mean loss on `batch` (a scalar), its
    `model` a stand-in running one chain's weights; `batch_size` None: full batch (tensor data);
    `n_beta` None: n / log n; `device` None: the model's. Deterministic for a seed."""
    for name, value, rule in (
        ("epsilon", epsilon, epsilon > 0),
        ("n_beta", n_beta, n_beta is None or n_beta > 0),
        ("gamma", gamma, gamma >= 0),
        ("chains", chains, chains >= 1),
        ("draws", draws, draws >= 1),
        ("burn_in", burn_in, burn_in >= 0),
        ("batch_size", batch_size, batch_size is None or batch_size >= 1),
    ):
        if not rule:
            raise UserError(
                f"{name}: {value} is not allowed (a positive number{', or 0' if name in ('gamma', 'burn_in') else ''})"
            )
    began = time.perf_counter()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise UserError("model: it has no trainable parameters to sample")
    device = torch.device(device) if device is not None else trainable[0].device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    # another device: a copy there (the model itself is never moved or written)
    base = model if all(p.device == device for p in model.parameters()) else copy.deepcopy(model).to(device)
    named = [(name, p) for name, p in base.named_parameters() if p.requires_grad]
    fork = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork):  # dropout and DataLoader shuffling seeded, the caller's RNG kept
        torch.manual_seed(seed)
        batches = _Batches(data, batch_size, chains, device, seed)
        if n_beta is None and batches.n < 2:
            raise UserError(f"data: {batches.n} samples is not allowed (nβ = n / log n needs at least 2)")
        nb = batches.n / math.log(batches.n) if n_beta is None else float(n_beta)  # Watanabe's β* = 1/log n
        init_loss = batches.full_loss(loss_fn, base)
        losses, distances, acceptance = _sample(base, named, batches, loss_fn, epsilon, nb, gamma, chains, burn_in + draws, seed)
    per_chain = nb * (losses[:, burn_in:].mean(axis=1) - init_loss)
    with np.errstate(invalid="ignore"):  # diverged chains: inf − inf is NaN, as it should be
        std = float(per_chain.std(ddof=1)) if chains > 1 else math.nan
    return LLCResult(
        mean=float(per_chain.mean()),
        std=std,
        per_chain=per_chain,
        init_loss=init_loss,
        loss_trace=losses,
        distance_trace=distances,
        acceptance=acceptance,
        epsilon=float(epsilon),
        n_beta=nb,
        gamma=float(gamma),
        chains=chains,
        draws=draws,
        burn_in=burn_in,
        warnings=diagnose(losses, distances, per_chain, acceptance, burn_in=burn_in, n_beta=nb),
        seconds=time.perf_counter() - began,
    )


def _sample(model, named, batches: _Batches, loss_fn, epsilon, n_beta, gamma, chains, steps, seed):
    """The SGLD chains: (chains, steps) loss, distance and acceptance traces as float64 arrays."""
    names = [name for name, _ in named]
    shapes = [p.shape for _, p in named]
    dtypes = [p.dtype for _, p in named]
    sizes = [p.numel() for _, p in named]
    work = torch.float32
    for dtype in dtypes:
        work = torch.promote_types(work, dtype)  # fp32 at least: the chains' weights and the updates
    device = named[0][1].device
    center = torch.cat([p.detach().reshape(-1).to(work) for _, p in named])  # w*, (d,)

    def chain_loss(flat: torch.Tensor, batch: Batch) -> torch.Tensor:  # flat (d,): one chain's weights
        params = {n: piece.view(s).to(t) for n, piece, s, t in zip(names, flat.split(sizes), shapes, dtypes)}
        return loss_fn(_Chain(model, params), batch).to(work)

    evaluate = vmap(grad_and_value(chain_loss), in_dims=(0, batches.in_dim), randomness="different")
    generator = torch.Generator(device=device).manual_seed(seed)
    root = math.sqrt(epsilon)
    w = center.expand(chains, -1).clone()  # (chains, d)
    shift_sq = torch.zeros(chains, dtype=torch.float64, device=device)  # ‖w − w*‖²
    losses, distances, accepted = (torch.empty(steps, chains, dtype=torch.float64, device=device) for _ in range(3))
    with torch.no_grad():
        batch = batches.next()
        grad, loss = evaluate(w, batch)  # (chains, d), (chains,)
        for t in range(steps):
            drift = n_beta * grad + gamma * (w - center)  # ∇U(w)
            noise = torch.randn(w.shape, generator=generator, device=device, dtype=work)
            moved = w - (epsilon / 2) * drift + root * noise
            grad_moved, loss_moved = evaluate(moved, batch)  # the same batch at both ends
            drift_moved = n_beta * grad_moved + gamma * (moved - center)
            moved_sq = _sum_sq(moved - center)
            # log α = U(w) − U(w') + log q(w | w') − log q(w' | w); q(w' | w) = N(w − ε/2·∇U(w), ε), whose
            # residuals are ξ forwards and √ε/2·(∇U(w) + ∇U(w')) − ξ backwards (no large-number cancellation)
            energy = n_beta * (loss.double() - loss_moved.double()) + gamma / 2 * (shift_sq - moved_sq)
            log_alpha = energy - _sum_sq(root / 2 * (drift + drift_moved) - noise) / 2 + _sum_sq(noise) / 2
            accepted[t] = torch.nan_to_num(log_alpha, nan=-math.inf).clamp(max=0).exp()
            losses[t], distances[t] = loss_moved, moved_sq.sqrt()
            w, shift_sq = moved, moved_sq
            if batches.fixed:
                grad, loss = grad_moved, loss_moved
            else:
                batch = batches.next()
                grad, loss = evaluate(w, batch)
    return tuple(trace.T.cpu().numpy() for trace in (losses, distances, accepted))


def _sum_sq(x: torch.Tensor) -> torch.Tensor:
    """(chains,) float64 sums of squares of (chains, d)."""
    return x.square().sum(dim=1, dtype=torch.float64)

"""Picking SGLD's step size ε and inverse temperature nβ for `estimate`, on a grid.

Every (ε, nβ) of the grid is estimated with the same chains, draws, burn-in and seed. A grid point is
healthy when its estimate has no warnings (`diagnostics`), its mean MALA acceptance over the draws is
in the healthy band [HEALTHY, 1] and λ̂ > 0. HEALTHY = 0.9 is stricter than the diagnostics' warning
(0.5, far from healthy): SGLD rejects nothing, so 1 − acceptance, the share of steps MALA would have
rejected, is discretisation error the chains keep. It guards against gross bias only, least so in
few dimensions: on the one-parameter regular model (curvature a, λ = 1/2, Euler's scheme inflating
λ̂ by 1/(1 − ε·a/4)) the acceptance was 0.98 at ε·a = 0.46 (+13 % predicted), 0.94 at 0.8 (+25 %),
0.87 at 1.5 (λ̂ 0.78 measured) and 0.72 at 3.1 (λ̂ 2.1); read λ̂ across the `table` too (a plateau
over ε is the better sign).

Among the healthy points the largest ε is chosen: it mixes fastest, so it gives the most nearly
independent draws for the same compute (calibrating by hand one looks for the same thing: a flat,
stable λ̂ trace at as large a step as allows). Ties in ε go to the nβ listed first. When no point is
healthy, the one with the fewest problems (warnings, a λ̂ ≤ 0, acceptance below the band), then the
smallest ε, is chosen, and the reason says so.

nβ: `n_betas` None grids ε alone at the default nβ = n / log n (`sgld`'s convention).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from phasewatch.errors import UserError
from phasewatch.llc.sgld import LLCResult, estimate

HEALTHY = 0.9  # the least mean MALA acceptance of a healthy grid point


@dataclass
class Calibration:
    """The chosen grid point: its estimate, ε and nβ, why it was chosen, and one `table` row per
    grid point (epsilon, n_beta, llc, std, acceptance, warnings, healthy)."""

    chosen: LLCResult
    epsilon: float
    n_beta: float
    reason: str
    table: list[dict]


def calibrate(
    model: nn.Module,
    data,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    epsilons: Sequence[float] = (1e-5, 1e-4, 1e-3, 1e-2),
    n_betas: Sequence[float] | None = None,
    gamma: float = 100.0,
    chains: int = 4,
    draws: int = 100,
    burn_in: int = 50,
    seed: int = 0,
    batch_size: int | None = None,
) -> Calibration:
    """Estimate λ̂ at every (ε, nβ) of the grid and choose one (see the module docstring)."""
    if not epsilons or (n_betas is not None and not n_betas):
        raise UserError("epsilons, n_betas: an empty grid is not allowed (at least one value each)")
    runs = [
        estimate(
            model,
            data,
            loss_fn,
            epsilon=eps,
            n_beta=nb,
            gamma=gamma,
            chains=chains,
            draws=draws,
            burn_in=burn_in,
            seed=seed,
            batch_size=batch_size,
        )
        for nb in (n_betas if n_betas is not None else [None])
        for eps in epsilons
    ]
    table = [_row(run) for run in runs]
    healthy = [i for i, row in enumerate(table) if row["healthy"]]
    if healthy:
        best = max(healthy, key=lambda i: (table[i]["epsilon"], -i))
        row = table[best]
        reason = (
            f"epsilon = {row['epsilon']:.3g} (n_beta = {row['n_beta']:.4g}): the largest healthy epsilon of the grid "
            f"({len(healthy)} of {len(table)} points healthy): no warnings, mean MALA acceptance {row['acceptance']:.2f} "
            f"(at least {HEALTHY}), λ̂ = {row['llc']:.4g} > 0."
        )
    else:
        best = min(range(len(table)), key=lambda i: (len(_problems(table[i])), table[i]["epsilon"], i))
        row = table[best]
        reason = (
            f"no grid point is healthy; epsilon = {row['epsilon']:.3g} (n_beta = {row['n_beta']:.4g}) has the fewest problems: "
            f"{'; '.join(_problems(row))}"
        )
    return Calibration(chosen=runs[best], epsilon=row["epsilon"], n_beta=row["n_beta"], reason=reason, table=table)


def _row(run: LLCResult) -> dict:
    accepted = float(np.nanmean(run.acceptance[:, run.burn_in :]))
    row = {
        "epsilon": run.epsilon,
        "n_beta": run.n_beta,
        "llc": run.mean,
        "std": run.std,
        "acceptance": accepted,
        "warnings": list(run.warnings),
    }
    row["healthy"] = not _problems(row)
    return row


def _problems(row: dict) -> list[str]:
    """What keeps a grid point from being healthy, one phrase each."""
    problems = list(row["warnings"])
    if not row["acceptance"] >= HEALTHY:  # NaN too
        problems.append(f"mean MALA acceptance {row['acceptance']:.2f} below {HEALTHY}")
    if not row["llc"] > 0:
        problems.append(f"λ̂ = {row['llc']:.4g} is not positive")
    return problems

"""Health checks of an LLC estimate: its traces turned into one-line warnings (none: healthy).

Each warning names the symptom and a remedy. The thresholds, chosen once:

- negative λ̂: the mean, or any chain's, below 0: the chains found loss below L(w*), so w* is not a
  local minimum (or the chains are too short);
- not finite: NaN or ±inf anywhere in the loss trace: the chains diverged (the other checks are
  skipped: their statistics mean nothing then);
- spikes: a draw whose nβ·L is more than SPIKE = 20 × max(1, s) above its chain's median, s the
  chain's robust spread (1.4826 × the median absolute deviation of nβ·L over the draws). The floor 1
  is the posterior's own scale: near a minimum nβ·(L − L(w*)) is close to Gamma(λ, 1) (exactly so for
  a homogeneous K(w), e.g. w^{2k}), whose tail falls off as e^{−x}, so a healthy chain goes 20 above
  its median with probability about e^{−20} per draw;
- drift, of the loss trace (as nβ·L) and of the distance trace ‖w − w*‖: each chain's draws cut into
  DRIFT_BLOCKS = 10 blocks, one least-squares slope of the block means against the block index for
  all chains (each chain its own level), significant (|t| > DRIFT_T = 4 against the block means'
  residual scatter) and large (the fitted change from the first to the last block more than
  DRIFT_CHANGE = 10 % of the level: λ̂ for the loss, the mean distance for the distance). Block means,
  unlike single draws, are nearly independent once a block outlasts the autocorrelation time;
- chains that disagree: Gelman & Rubin's R̂ of the loss over the draws (between-chain against
  within-chain variance) above RHAT = 1.2;
- acceptance: the mean MALA acceptance probability over the draws below ACCEPTANCE = 0.5 (MALA's
  optimum is about 0.57, Roberts & Rosenthal 1998; far below it the SGLD steps are too large for the
  loss's curvature and the chains are biased). `calibrate` asks more of a healthy ε (0.9): SGLD
  rejects nothing, so even this warning's threshold leaves a large bias.
"""

from __future__ import annotations

import numpy as np

SPIKE = 20.0
DRIFT_BLOCKS = 10
DRIFT_T = 4.0
DRIFT_CHANGE = 0.1
RHAT = 1.2
ACCEPTANCE = 0.5


def diagnose(
    loss_trace: np.ndarray,
    distance_trace: np.ndarray,
    per_chain: np.ndarray,
    acceptance: np.ndarray,
    *,
    burn_in: int,
    n_beta: float,
) -> list[str]:
    """Warnings for one estimate: loss, distance and acceptance traces (chains, steps), λ̂ per chain (chains,)."""
    chains = len(per_chain)
    bad = ~np.isfinite(loss_trace).all(axis=1)
    if bad.any():
        return [
            f"the loss trace has NaN or inf values in {bad.sum()} of {chains} chains: the chains diverged; lower epsilon (or raise gamma)."
        ]
    energy = n_beta * loss_trace[:, burn_in:]  # (chains, draws)
    return (
        _signs(per_chain)
        + _spikes(energy)
        + _drifts(energy, distance_trace[:, burn_in:], float(per_chain.mean()))
        + _mixing(energy, acceptance[:, burn_in:])
    )


def _signs(per_chain: np.ndarray) -> list[str]:
    mean = float(per_chain.mean())
    if mean < 0:
        return [
            f"λ̂ is negative ({mean:.3g}): the chains found lower loss than at w*, so w* is not a local minimum; "
            "train to a minimum before estimating."
        ]
    if (per_chain < 0).any():
        return [
            f"{(per_chain < 0).sum()} of {len(per_chain)} chains have a negative λ̂ (lowest {per_chain.min():.3g}): "
            "w* may not be a minimum or the chains are too short; train further, or raise draws."
        ]
    return []


def _spikes(energy: np.ndarray) -> list[str]:
    median = np.median(energy, axis=1, keepdims=True)
    spread = np.maximum(1.0, 1.4826 * np.median(np.abs(energy - median), axis=1, keepdims=True))
    jumps = (energy - median) / spread
    spiky = (jumps > SPIKE).any(axis=1)
    if not spiky.any():
        return []
    return [
        f"the loss spikes in {spiky.sum()} of {len(energy)} chains (up to {jumps.max():.0f}× the chain's spread above its median): "
        "the steps are too large; lower epsilon."
    ]


def _drifts(energy: np.ndarray, distance: np.ndarray, llc: float) -> list[str]:
    warnings = []
    change, t = _drift(energy, level=llc)
    if change is not None:
        warnings.append(
            f"the loss drifts over the draws (λ̂ changes by {change:+.0%} from the first to the last tenth, t = {t:.1f}): "
            "the chains have not settled; raise burn_in, or gamma if it keeps rising."
        )
    change, t = _drift(distance, level=float(distance.mean()))
    if change is not None:
        warnings.append(
            f"the distance from w* drifts over the draws ({change:+.0%} from the first to the last tenth, t = {t:.1f}): "
            "the chains wander off, e.g. along flat directions; raise gamma."
        )
    return warnings


def _drift(traces: np.ndarray, level: float) -> tuple[float | None, float]:
    """(the fitted change from the first to the last block as a fraction of |level|, the slope's t) when
    the traces (chains, draws) drift by the thresholds above, else (None, t). One slope for all chains,
    each chain its own level: block means b[c, j] = μ_c + s·x_j + e, so the noise is estimated with
    chains × (blocks − 1) − 1 degrees of freedom, not the 8 of one averaged trace."""
    chains, draws = traces.shape
    if draws < 2 * DRIFT_BLOCKS:
        return None, 0.0
    blocks = np.stack([b.mean(axis=1) for b in np.array_split(traces, DRIFT_BLOCKS, axis=1)], axis=1)  # (chains, blocks)
    x = np.arange(DRIFT_BLOCKS) - (DRIFT_BLOCKS - 1) / 2
    sxx = chains * float((x * x).sum())
    centered = blocks - blocks.mean(axis=1, keepdims=True)
    slope = float((centered * x).sum() / sxx)
    freedom = chains * (DRIFT_BLOCKS - 1) - 1
    scatter = float(np.sqrt(((centered - slope * x) ** 2).sum() / freedom / sxx)) if freedom > 0 else 0.0
    t = slope / scatter if scatter > 0 else float(np.inf * np.sign(slope))
    change = slope * (DRIFT_BLOCKS - 1) / abs(level) if level else float(np.inf * np.sign(slope))
    return (change if abs(t) > DRIFT_T and abs(change) > DRIFT_CHANGE else None), t


def _mixing(energy: np.ndarray, acceptance: np.ndarray) -> list[str]:
    warnings = []
    chains, draws = energy.shape
    within = float(energy.var(axis=1, ddof=1).mean()) if draws > 1 else 0.0
    if chains > 1 and within > 0:
        between = draws * energy.mean(axis=1).var(ddof=1)
        r_hat = float(np.sqrt(((draws - 1) / draws * within + between / draws) / within))
        if r_hat > RHAT:
            warnings.append(
                f"the chains disagree (R̂ = {r_hat:.2f} on the loss, above {RHAT}): they have not mixed; "
                "raise draws or epsilon, or raise gamma."
            )
    accepted = float(np.nanmean(acceptance))
    if accepted < ACCEPTANCE:
        warnings.append(
            f"the mean MALA acceptance is {accepted:.2f} (below {ACCEPTANCE}): epsilon is too large for this loss; lower epsilon."
        )
    return warnings

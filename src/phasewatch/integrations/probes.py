"""Probes for any model on a `ProbeData` set: one function, `probe_model`, used both by the live
`Watcher` and by `analyze` over saved checkpoints, so the two agree to numerical precision.

Metrics (names `probe_name/site`, DESIGN §3; h_i the site's representation of item i, see
`sites.representation`; the formulas are those of `phasewatch.probes.geometry`):

  probe/loss              mean cross-entropy on the probe set: next-token loss over every position
                          for a causal LM (logits (N, T, V) on token ids (N, T)), else the
                          class loss against the labels (logits (N, C)); absent otherwise
  position_loss/K         causal LMs: mean loss of the prediction made at position K (of token K+1)
  effective_rank/SITE     effective rank (Roy & Vetterli 2007) of the centred h_i, (N × d)
  etf_distance/SITE       labels: ETF distance of the class means (Papyan, Han & Donoho 2020)
  nc1/SITE                labels: NC1 = (1/C) tr(Σ_W Σ_B⁺) (Papyan et al. 2020)
  gram/SITE (array)       labels: cosine Gram of the centred class means, key `gram`
  semantic_alignment/SITE, semantic_correlation/SITE
                          attributes: slope / Pearson r of the items' cosine Gram on K = A Aᵀ
  weight_norm/total, weight_norm/PARAM   ‖θ‖₂ overall and per parameter tensor
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from phasewatch.errors import UserError
from phasewatch.integrations.probe_data import ProbeData
from phasewatch.integrations.sites import capture
from phasewatch.probes import geometry
from phasewatch.probes.behaviour import weight_norms
from phasewatch.probes.registry import ProbeResult

PROBES = ("loss", "effective_rank", "collapse", "semantic", "weight_norm")
NEEDS = {"collapse": "labels", "semantic": "attributes"}


def choose_probes(names: list[str] | None, data: ProbeData) -> list[str]:
    """`names` checked against what `data` allows; None: every probe the data allows."""
    has = {"labels": data.labels is not None, "attributes": data.attributes is not None}
    if names is None:
        return [name for name in PROBES if has.get(NEEDS.get(name), True)]
    for name in names:
        if name not in PROBES:
            raise UserError(f"probes: {name!r} is not allowed (any of {', '.join(PROBES)})")
        if not has.get(NEEDS.get(name), True):
            raise UserError(f"probes: {name!r} needs probe data with {NEEDS[name]} (give them, or leave {name!r} out)")
    return list(dict.fromkeys(names))


def check_batch_size(batch_size) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise UserError(f"batch_size: {batch_size!r} is not allowed (an integer >= 1)")
    return batch_size


def check_fits(model: nn.Module, data: ProbeData, sites: list[str], batch_size: int) -> None:
    """The model can read the probe set: token ids within its vocabulary (when its first
    nn.Embedding, the token embedding in every decoder we know, or its config says so), items
    within its context, and a forward pass of the first batch succeeds and runs every site.
    UserError otherwise."""
    if not data.inputs.is_floating_point():
        embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
        largest = int(data.inputs.max())
        if embedding is not None and largest >= embedding.num_embeddings:
            raise UserError(f"probe data: token id {largest} is not allowed (ids below the model's vocabulary "
                            f"size, {embedding.num_embeddings})")
        context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        if isinstance(context, int) and data.inputs.dim() == 2 and data.inputs.shape[1] > context:
            raise UserError(f"probe data: {data.inputs.shape[1]} tokens per item is not allowed (at most the "
                            f"model's context, {context})")
    try:
        with untouched(model), capture(model, sites) as cache:
            model(data.inputs[:batch_size].to(_device(model)))
    except (IndexError, RuntimeError, ValueError, TypeError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:100]
        raise UserError(f"probe data: inputs of shape {tuple(data.inputs.shape)} are not allowed (what the model "
                        f"takes: ids below its vocabulary size, items within its context; it said: {reason})") from None
    if missing := [site for site in sites if site not in cache]:
        raise UserError(f"sites: {missing[0]!r} is not allowed (it did not run in the model's forward; watch a "
                        "module the forward calls)")


@contextmanager
def untouched(model: nn.Module) -> Iterator[None]:
    """Eval mode, no autograd, no autocast; on exit every module's train/eval flag and the CPU and
    CUDA random states are as they were, so probing never changes what training does next."""
    modes = [(module, module.training) for module in model.modules()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    device = _device(model)
    model.eval()
    try:
        with ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if device.type in ("cpu", "cuda"):  # a loop under autocast must not change what we measure
                stack.enter_context(torch.autocast(device.type, enabled=False))
            yield
    finally:
        for module, mode in modes:
            module.training = mode
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def probe_model(model: nn.Module, data: ProbeData, sites: list[str], probes: list[str],
                batch_size: int = 64) -> ProbeResult:
    """Run `model` over the probe set in batches of `batch_size` with hooks on `sites`, and return
    the metrics of the chosen `probes` (module docstring). The model is left as it was."""
    device = _device(model)
    features: dict[str, list[torch.Tensor]] = {site: [] for site in sites}
    losses: list[torch.Tensor] = []
    result = ProbeResult()
    with untouched(model):
        with capture(model, sites) as cache:
            for start in range(0, len(data), batch_size):
                inputs = data.inputs[start : start + batch_size].to(device)
                output = model(inputs)
                if "loss" in probes:
                    labels = None if data.labels is None else data.labels[start : start + batch_size].to(device)
                    item_losses = _item_losses(_logits(output), inputs, labels)
                    if item_losses is not None:
                        losses.append(item_losses)
                for site in sites:
                    features[site].append(cache.pop(site))
        if losses:
            result.scalars.update(_loss_scalars(torch.cat(losses)))
        kernel = data.attribute_kernel() if "semantic" in probes else None
        for site in sites:
            _site_metrics(result, site, torch.cat(features[site]), data, probes, kernel)
        if "weight_norm" in probes:
            result.scalars.update(weight_norms(model))
    return result


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def _logits(output) -> torch.Tensor | None:
    """Logits from what a model returns: a tensor, a Hugging Face output (`.logits`), or a tuple."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    output = getattr(output, "logits", output)
    return output if isinstance(output, torch.Tensor) else None


def _item_losses(logits: torch.Tensor | None, inputs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """Per-item cross-entropy in float64: (B, T − 1) next-token losses for a causal LM, (B, 1)
    class losses for a classifier with labels, None when the output is neither."""
    if logits is None or inputs.is_floating_point():
        lm = False
    else:
        lm = logits.dim() == 3 and inputs.dim() == 2 and logits.shape[:2] == inputs.shape
    if lm:
        predictions = logits[:, :-1].double()
        return F.cross_entropy(predictions.flatten(0, 1), inputs[:, 1:].flatten(), reduction="none").view(len(inputs), -1)
    if logits is not None and labels is not None and logits.dim() == 2 and logits.shape[1] > int(labels.max()):
        return F.cross_entropy(logits.double(), labels, reduction="none")[:, None]
    return None


def _loss_scalars(losses: torch.Tensor) -> dict[str, float]:
    scalars = {"probe/loss": losses.mean().item()}
    if losses.shape[1] > 1:  # a causal LM: one column per predicting position
        width = len(str(losses.shape[1] - 1))
        scalars.update({f"position_loss/{k:0{width}d}": v for k, v in enumerate(losses.mean(0).tolist())})
    return scalars


def _site_metrics(result: ProbeResult, site: str, h: torch.Tensor, data: ProbeData, probes: list[str],
                  kernel: torch.Tensor | None) -> None:
    """Add the representation metrics of one site (features h, (N, d)) to `result`."""
    if "effective_rank" in probes:
        h64 = h.double()
        result.scalars[f"effective_rank/{site}"] = geometry.effective_rank(h64 - h64.mean(0))
    if "collapse" in probes:
        labels = data.labels.to(h.device)
        means = geometry.class_means(h, labels, data.num_classes)
        result.scalars[f"etf_distance/{site}"] = geometry.etf_distance(means)
        result.scalars[f"nc1/{site}"] = geometry.nc1(h, labels, data.num_classes)
        result.arrays[f"gram/{site}"] = {"gram": geometry.gram(means, center=True, cosine=True).float().cpu()}
    if kernel is not None:
        result.scalars[f"semantic_alignment/{site}"] = geometry.semantic_alignment(h, kernel)
        result.scalars[f"semantic_correlation/{site}"] = geometry.semantic_correlation(h, kernel)

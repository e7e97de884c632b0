"""The `ensemble` backend: N runs that differ only in seed, lr or weight decay, trained as one
vectorised model.

Each member is an ordinary prepared config (`train.prepare`) with its own `Run`. The members'
freshly initialised parameters (each `prepare` seeds its own init, so they are bit-for-bit the
solo init) are stacked along a leading member axis (`torch.func.stack_module_state`), buffers
that differ between members likewise, and one step of all members is one call of

    vmap(grad_and_value(loss ∘ functional_call(base, member params)))(params, inputs, targets)

on one copy of the model, `randomness="different"`, each member with its own batch
(`loop.batch_at(task_m, step, batch_size, seed_m)`); on the CPU the members go through it in
chunks (`default_chunk_size`: a chunk's activations stay in the cache). (A vmapped forward with
one plain backward of the summed losses was tried too: faster on the UFM, about 3× slower on the
grokking transformer, whose batched matmuls' backward copies the expanded activations.) The update is a
vectorised AdamW (PyTorch has no functional optimiser) written as `torch.optim.AdamW` computes it (decoupled decay
p ← p·(1 − lr·wd) first, then the moments, the bias corrections, ε added after
√v / √(1 − β₂ᵗ)), or SGD with momentum as `torch.optim.SGD` does, with each member's lr and weight
decay as a tensor broadcast over the member axis, per param group (the shared pathway's decay ×
`decay_ratio`, `train.optim`), and the linear warm-up of `train.loop`.

Every member records into its own `Recorder`, exactly as `loop.train` builds it: the training
loss and accuracy of each step (device tensors, no host sync), the probes at its scheduled steps
(on the member's own prepared model, into which its slice of the stacked parameters is copied
first), checkpoints at the same steps and in the same format as `state.training_state` (the
optimiser state under the param indices `torch.optim` would give it), so a member continues solo
with `phasewatch run --resume`; then the `at_end` probes over its checkpoints (`Recorder.replay`)
and `finish(..., ensemble=N)`. An exception marks every unfinished member failed.

Members may differ in `seed` (init, data split and batches), `train.lr` and
`train.weight_decay`, and, as they change nothing in training, in `description`, `setting` and
`events.*` (each member detects its own events); everything else must be equal, and the members'
batches and models must have one shape (`check_ensemble`: one-line UserError otherwise).

Left out of this version:
- probes are not vectorised: each member's probes run on its own model, one member after another;
- interventions (structure_penalty, attribute_smoothing, keep_peak), a curriculum and adaptive
  probing are refused (they change one member's loss, data or schedule from its own probes);
- gradient clipping: the solo loop does not clip, so neither does the ensemble;
- resuming an ensemble: a stopped member resumes solo from its checkpoints (`phasewatch run --resume`);
- models that draw random numbers in their forward pass train, but not as their solo runs would
  (vmap's `randomness="different"` draws are not the solo global RNG's); no built-in model does;
- members differing in anything that changes a shape (model size, train split size, batch size),
  in steps, schedule, optimiser kind, betas, momentum or decay ratio.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from phasewatch.config import flatten, shown
from phasewatch.errors import UserError
from phasewatch.models import shared_parameter_names
from phasewatch.probes.training import TRAIN_ACCURACY, TRAIN_LOSS
from phasewatch.record import ProbeSteps, Recorder
from phasewatch.store import ATTRIBUTE_GROUPS, Run
from phasewatch.tasks.attributes import attribute_groups
from phasewatch.tasks.objective import accuracy
from phasewatch.train.loop import _progress, _status, batch_at, checkpoint_contexts
from phasewatch.train.prepare import Prepared

VARYING = ("seed", "train.lr", "train.weight_decay")  # what members may differ in
FREE = ("description", "setting")  # text that changes nothing in training (and events.*, per member)
EPS = 1e-8  # torch.optim.AdamW's default eps (train.optim builds it with the default)
# On the CPU, members are stepped in chunks of about this many input elements (tokens) at a time:
# one chunk's activations stay in the cache. Measured on the grokking model (4,176 tokens a
# member): 16 members at once cost 51 ms a member, chunks of 4 33 ms (solo: 28 ms); the UFM's
# 48-token members run all at once (64 members: 57 µs a member against 120 µs solo).
CPU_CHUNK_ELEMENTS = 16_384


# ---- what can be vectorised ---------------------------------------------------------------------


def check_ensemble(prepared_list: Sequence[Prepared]) -> None:
    """UserError, one line, unless the prepared members can train as one vectorised model: the
    first config key in which two members differ beyond seed, lr and weight decay, the lever that
    cannot be vectorised, or what the seed changed in a shape (data or model)."""
    if not prepared_list:
        raise UserError("ensemble: no members (give at least one prepared config)")
    _check_configs([p.config for p in prepared_list])
    _check_levers(prepared_list[0].config)
    _check_shapes(prepared_list)
    _Stacked(prepared_list).trial()


def default_chunk_size(prepared_list: Sequence[Prepared]) -> int | None:
    """How many members one vmap call steps: all of them on a GPU (None), on the CPU as many as
    fit `CPU_CHUNK_ELEMENTS` input elements (at least one)."""
    first = prepared_list[0]
    if first.device.type != "cpu":
        return None
    inputs, _, _, _ = _batch_shape(first, 0)
    per_member = max(1, math.prod(inputs))
    chunk = max(1, CPU_CHUNK_ELEMENTS // per_member)
    return None if chunk >= len(prepared_list) else chunk


def _shared(key: str) -> bool:
    """Whether members must agree on the setting `key` (a `config.flatten` key)."""
    return key not in VARYING and key not in FREE and not key.startswith("events.")


def ensemble_key(config) -> str:
    """What members of one ensemble share: configs with equal keys differ only where an ensemble
    allows (a sweep driver groups its points by it; `check_ensemble` still checks the shapes)."""
    return json.dumps({key: value for key, value in flatten(config).items() if _shared(key)}, sort_keys=True)


def _check_configs(configs: Sequence) -> None:
    first = flatten(configs[0])
    for index, config in enumerate(configs[1:], 1):
        flat = flatten(config)
        for key in [*first, *(k for k in flat if k not in first)]:
            if not _shared(key):
                continue
            if first.get(key) != flat.get(key):
                raise UserError(
                    f"{key}: members differ ({shown(first.get(key))} in member 0, {shown(flat.get(key))} in member "
                    f"{index}); an ensemble's members may differ only in {', '.join(VARYING)} (train the others as separate runs)"
                )


def _check_levers(config) -> None:
    """The levers of one member (all members share them) that this version cannot vectorise."""
    levers = config.interventions
    why = "run these members solo"
    if levers.structure_penalty > 0:
        raise UserError(
            f"interventions.structure_penalty: {levers.structure_penalty:g} is not allowed in an ensemble "
            f"(the penalty reads the features through forward hooks, which are not vectorised; {why})"
        )
    if levers.attribute_smoothing > 0:
        raise UserError(
            f"interventions.attribute_smoothing: {levers.attribute_smoothing:g} is not allowed in an ensemble "
            f"(the smoothed targets are not vectorised in this version; {why})"
        )
    if levers.keep_peak:
        raise UserError(
            f"interventions.keep_peak: {levers.keep_peak!r} is not allowed in an ensemble (keep-peak acts on one "
            f"member's probes and may stop it early, while an ensemble steps every member together; {why})"
        )
    if config.curriculum.metric:
        raise UserError(
            f"curriculum.metric: {config.curriculum.metric!r} is not allowed in an ensemble (each member would switch "
            f"its data at its own step; {why})"
        )
    if config.probes.adaptive:
        raise UserError(
            "probes.adaptive: true is not allowed in an ensemble (adaptive probing is not supported by the ensemble "
            f"backend in this version; {why})"
        )


def _check_shapes(prepared_list: Sequence[Prepared]) -> None:
    """The members' batches and models must stack: one shape each (the configs agree, but a task or
    model may size itself from the seed's data)."""
    first = prepared_list[0]
    settings = first.config.train
    shape0 = _batch_shape(first, 0)
    params0 = {n: (p.shape, p.dtype) for n, p in first.model.named_parameters()}
    buffers0 = {n: (b.shape, b.dtype) for n, b in first.model.named_buffers()}
    attributes0 = _plain_attributes(first.model)
    for index, member in enumerate(prepared_list[1:], 1):
        if member.device != first.device:
            raise UserError(f"train.device: members are on {first.device} and {member.device} (an ensemble runs on one device)")
        if (shape := _batch_shape(member, 0)) != shape0:
            raise UserError(
                f"seed: member {index}'s training batches have shape {shape}, member 0's {shape0} (task "
                f"{first.task.name!r} sizes its data by the seed, batch_size {settings.batch_size}); stacked batches need one shape"
            )
        params = {n: (p.shape, p.dtype) for n, p in member.model.named_parameters()}
        buffers = {n: (b.shape, b.dtype) for n, b in member.model.named_buffers()}
        for kind, mine, theirs in (("parameter", params, params0), ("buffer", buffers, buffers0)):
            if mine != theirs:
                name = next((n for n in {**theirs, **mine} if mine.get(n) != theirs.get(n)), "?")
                raise UserError(
                    f"seed: member {index}'s model {kind} {name!r} is {_described(mine.get(name))}, member 0's "
                    f"{_described(theirs.get(name))} (the model is sized from the seed's data); stacked models need one shape"
                )
        attributes = _plain_attributes(member.model)
        for name in attributes0:
            if not _same(attributes0[name], attributes.get(name)):
                raise UserError(
                    f"seed: member {index}'s model attribute {name!r} differs from member 0's (the model is built from the "
                    "seed's data, and one vectorised model has one value of it)"
                )
        if shared_parameter_names(member.model) != shared_parameter_names(first.model):
            raise UserError(f"seed: member {index}'s shared pathway differs from member 0's (train.decay_ratio groups)")


def _batch_shape(prepared: Prepared, step: int) -> tuple:
    settings = prepared.config.train
    batch = batch_at(prepared.task, step, settings.batch_size, prepared.config.seed)
    return (tuple(batch.inputs.shape), batch.inputs.dtype, tuple(batch.targets.shape), batch.targets.dtype)


def _described(entry) -> str:
    return "missing" if entry is None else f"{tuple(entry[0])} {entry[1]}"


def _plain_attributes(model: torch.nn.Module) -> dict[str, Any]:
    """Every submodule's public non-parameter, non-buffer attributes (a vectorised model shares them)."""
    found: dict[str, Any] = {}
    for prefix, module in model.named_modules():
        for key, value in vars(module).items():
            if not key.startswith("_") and key != "training":
                found[f"{prefix}.{key}" if prefix else key] = value
    return found


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(torch.equal(a.cpu(), b.cpu()))
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an attribute without a usable ==: not comparable, not shareable
        return a is b


# ---- the vectorised model -----------------------------------------------------------------------


class _Stacked:
    """The members' parameters stacked along a leading member axis, the buffers that differ
    between members likewise, and one copy of the model that `functional_call` runs with them."""

    def __init__(self, prepared_list: Sequence[Prepared], chunk_size: int | None = None):
        models = [p.model for p in prepared_list]
        self.base = copy.deepcopy(models[0])
        self.names = [name for name, _ in models[0].named_parameters()]
        params, _ = stack_module_state(list(models))
        self.params = {n: params[n].detach() for n in self.names}  # updated in place by _Optimizer
        with torch.no_grad():
            buffers = [dict(m.named_buffers()) for m in models]
            self.buffers = {  # identical buffers stay the base copy's own, unbatched
                n: torch.stack([b[n] for b in buffers])
                for n in buffers[0]
                if not all(torch.equal(b[n], buffers[0][n]) for b in buffers[1:])
            }
        self.loss = prepared_list[0].loss
        self.prepared = prepared_list

        def member(params, buffers, inputs, targets):
            logits = functional_call(self.base, (params, buffers), (inputs,))
            return self.loss(logits, targets), logits

        self._step = vmap(grad_and_value(member, has_aux=True), randomness="different", chunk_size=chunk_size)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor):
        """(gradients by name, (N,) losses, (N,) accuracies) of every member on its own batch;
        inputs and targets (N, batch, ...)."""
        grads, (losses, logits) = self._step(self.params, self.buffers, inputs, targets)
        # accuracy per member outside vmap: its argmax and sums batch as they are
        return grads, losses.detach(), accuracy(logits.detach(), targets, keep=1).float()

    def trial(self) -> None:
        """One vectorised step on two rows of each member's training split: UserError naming the
        model when torch.func cannot vectorise it (data-dependent control flow, `.item()`, ...)."""
        inputs = torch.stack([p.task.train.inputs[:2] for p in self.prepared])
        targets = torch.stack([p.task.train.targets[:2] for p in self.prepared])
        try:
            self(inputs, targets)
        except Exception as error:  # noqa: BLE001 - whatever vmap refuses becomes one line
            first = (str(error).splitlines() or [type(error).__name__])[0][:160]
            name = self.prepared[0].config.model.name
            raise UserError(
                f"model.name: {name!r} cannot be vectorised with torch.func ({type(error).__name__}: {first}); "
                "train these members as separate runs"
            ) from None

    def unused(self) -> set[str]:
        """Parameters the loss does not reach, or frozen ones (autograd leaves their .grad None,
        so torch.optim neither decays them nor keeps state for them): found on member 0 with two rows."""
        prepared = self.prepared[0]
        model = copy.deepcopy(prepared.model)
        parameters = {name: p for name, p in model.named_parameters() if p.requires_grad}
        task = prepared.task
        loss = self.loss(model(task.train.inputs[:2]), task.train.targets[:2])
        grads = torch.autograd.grad(loss, list(parameters.values()), allow_unused=True)
        reached = {name for name, grad in zip(parameters, grads) if grad is not None}
        return set(self.names) - reached

    def load_into(self, index: int, model: torch.nn.Module) -> None:
        """Member `index`'s current parameters into `model` (its own prepared model)."""
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                parameter.copy_(self.params[name][index])


# ---- the vectorised optimisers ------------------------------------------------------------------


class _Optimizer:
    """AdamW or SGD over the stacked parameters, member by member as `torch.optim` would step each
    member's own model: per-member lr (N,) and per-param-group weight decay (N,), float64 on the
    device, cast to the parameters' dtype once combined (as torch casts its Python-float scalars)."""

    def __init__(self, stacked: _Stacked, prepared_list: Sequence[Prepared]):
        settings = prepared_list[0].config.train
        device = prepared_list[0].device
        self.kind, self.settings = settings.optimizer, settings
        self.params = stacked.params
        model = prepared_list[0].model
        shared = set(shared_parameter_names(model))
        names = [n for n, _ in model.named_parameters()]
        groups = [[n for n in names if n not in shared], [n for n in names if n in shared]]
        ratios = [1.0, settings.decay_ratio]
        kept = [(g, r) for g, r in zip(groups, ratios) if g]  # train.optim drops an empty group
        self.groups = [g for g, _ in kept]
        self.index = {name: i for i, name in enumerate(n for g in self.groups for n in g)}  # torch's state indices
        self.group_of = {name: gi for gi, g in enumerate(self.groups) for name in g}
        unused = stacked.unused()
        self.used = [n for n in names if n not in unused]
        lrs = [p.config.train.lr for p in prepared_list]
        decays = [p.config.train.weight_decay for p in prepared_list]
        self.lr = torch.tensor(lrs, dtype=torch.float64, device=device)
        # train.optim: weight_decay × decay_ratio, a Python product, per group
        self.weight_decay = [torch.tensor([wd * r for wd in decays], dtype=torch.float64, device=device) for _, r in kept]
        self.steps = 0
        self.state: dict[str, dict[str, torch.Tensor]] = {}

    def _lr(self, step: int) -> torch.Tensor:
        """loop.train's warm-up: lr × min(1, (step + 1) / warmup_steps)."""
        settings = self.settings
        return self.lr * min(1.0, (step + 1) / settings.warmup_steps) if settings.warmup_steps else self.lr

    @torch.no_grad()
    def step(self, grads: dict[str, torch.Tensor], step: int) -> None:
        self.steps += 1
        lr = self._lr(step)
        if self.kind == "sgd":
            self._sgd(grads, lr)
        else:
            self._adamw(grads, lr)

    def _adamw(self, grads: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        beta1, beta2 = self.settings.betas
        step = float(self.steps)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        step_size = lr / bias_correction1
        decays = [1 - lr * wd for wd in self.weight_decay]
        for name in self.used:
            param, grad = self.params[name], grads[name]
            view = (-1,) + (1,) * (param.dim() - 1)
            state = self.state.get(name)
            if state is None:
                state = self.state[name] = {"exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}
            param.mul_(decays[self.group_of[name]].to(param.dtype).view(view))
            state["exp_avg"].lerp_(grad, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (state["exp_avg_sq"].sqrt() / bias_correction2_sqrt).add_(EPS)
            # addcdiv_'s value·t1/t2 with a value per member
            param.addcdiv_(state["exp_avg"] * (-step_size).to(param.dtype).view(view), denom)

    def _sgd(self, grads: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        momentum = self.settings.momentum
        for name in self.used:
            param, grad = self.params[name], grads[name]
            view = (-1,) + (1,) * (param.dim() - 1)
            grad = grad + param * self.weight_decay[self.group_of[name]].to(param.dtype).view(view)
            if momentum != 0:
                state = self.state.get(name)
                if state is None:
                    state = self.state[name] = {"momentum_buffer": grad.clone()}
                else:
                    state["momentum_buffer"].mul_(momentum).add_(grad)
                grad = state["momentum_buffer"]
            param.add_(grad * (-lr).to(param.dtype).view(view))

    def member_state(self, index: int) -> dict[str, torch.Tensor]:
        """Member `index`'s optimiser state as `state.training_state` writes torch's:
        `optimizer.<param index>.<key>`."""
        tensors: dict[str, torch.Tensor] = {}
        for name in self.used:
            state = self.state.get(name)
            if state is None:
                continue
            i = self.index[name]
            if self.kind == "adamw":
                tensors[f"optimizer.{i}.step"] = torch.tensor(float(self.steps), dtype=torch.float32)
            for key, value in state.items():
                tensors[f"optimizer.{i}.{key}"] = value[index].detach().cpu().contiguous()
        return tensors


# ---- training -----------------------------------------------------------------------------------


def train_ensemble(members: list[tuple[Run, Prepared]], *, show_progress: bool = False, chunk_size: int | None = None) -> None:
    """Train every (run, prepared config) of `members` as one vectorised model, each member
    recorded into its run exactly as `loop.train` would record it (metrics, probes, checkpoints,
    events, report); see the module docstring for what may differ between members. UserError,
    with nothing written, when they cannot be vectorised (`check_ensemble`). `chunk_size`: how
    many members one vmap call steps (default: `default_chunk_size`)."""
    prepared_list = [p for _, p in members]
    check_ensemble(prepared_list)
    first = prepared_list[0]
    config, settings = first.config, first.config.train
    if chunk_size is not None and chunk_size < 1:
        raise UserError(f"chunk_size: {chunk_size} is not allowed (at least 1, or None for the default)")
    stacked = _Stacked(prepared_list, chunk_size or default_chunk_size(prepared_list))
    optimizer = _Optimizer(stacked, prepared_list)
    recorders: list[Recorder] = []
    finished: set[int] = set()
    try:
        for run, prepared in members:
            schedule = ProbeSteps(settings.steps, config.probes.every, config.probes.log_points)
            recorders.append(
                Recorder(
                    run,
                    prepared.context,
                    prepared.config.probes.names,
                    schedule,
                    detection=prepared.config.events,
                    options=prepared.config.probes.options(),
                )
            )
        for (run, prepared), recorder in zip(members, recorders):
            recorder.writer.truncate_after(-1)
            task = prepared.task
            if task.attributes is not None and (
                groups := attribute_groups(task.attributes, getattr(prepared.config.task, "factor_sizes", None))
            ):
                run.save_analysis(ATTRIBUTE_GROUPS, {"groups": groups})

        fixed = _fixed_batches(prepared_list)
        began = time.perf_counter()
        with _progress(show_progress) as progress:
            bar = progress.add_task(f"ensemble of {len(members)}", total=settings.steps, completed=0, status="")
            for step in range(settings.steps + 1):
                if step % settings.checkpoint_every == 0:
                    _checkpoint(members, recorders, stacked, optimizer, step)
                inputs, targets = fixed or _batches(prepared_list, step)
                grads, losses, accuracies = stacked(inputs, targets)
                for index, recorder in enumerate(recorders):
                    recorder.record(step, {TRAIN_LOSS.name: losses[index], TRAIN_ACCURACY.name: accuracies[index]})
                for index, recorder in enumerate(recorders):
                    if recorder.due(step):
                        stacked.load_into(index, prepared_list[index].model)
                        scalars = recorder.probe(step).scalars
                        if index == 0:
                            progress.update(bar, status=_status(scalars))
                if step == settings.steps:
                    break
                optimizer.step(grads, step)
                progress.update(bar, completed=step + 1)
        if step not in members[0][0].checkpoint_steps():
            _checkpoint(members, recorders, stacked, optimizer, step)
        train_seconds = time.perf_counter() - began
        for index, ((run, prepared), recorder) in enumerate(zip(members, recorders)):
            stacked.load_into(index, prepared.model)  # the finished model, for `at_end` probes
            replay_began = time.perf_counter()
            recorder.replay(checkpoint_contexts(run, prepared))
            recorder.finish(
                train_seconds=train_seconds + time.perf_counter() - replay_began,
                probe_seconds=recorder.probe_seconds,
                device=str(prepared.device),
                resumed_from=0,
                stopped_at=step,
                ensemble=len(members),
                **prepared.scale(),
            )
            finished.add(index)
    except BaseException as error:  # a crash or Ctrl-C: every unfinished member keeps what it recorded
        for index, recorder in enumerate(recorders):
            if index not in finished:
                try:
                    recorder.fail(error)
                except Exception:  # noqa: BLE001, S110 - the other members still get marked failed
                    pass
        raise


def _fixed_batches(prepared_list: Sequence[Prepared]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The stacked training splits when every step's batch is the whole split (full batch), else None."""
    first = prepared_list[0]
    settings, task = first.config.train, first.task
    if task.stream is not None or not (settings.batch_size == 0 or settings.batch_size >= len(task.train)):
        return None
    return _batches(prepared_list, 0)


def _batches(prepared_list: Sequence[Prepared], step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each member's batch of `step` (`loop.batch_at`: its own seed), stacked."""
    batches = [batch_at(p.task, step, p.config.train.batch_size, p.config.seed) for p in prepared_list]
    shapes = {(tuple(b.inputs.shape), tuple(b.targets.shape)) for b in batches}
    if len(shapes) > 1:
        raise UserError(
            f"task: the members' step-{step} batches have different shapes ({', '.join(map(str, sorted(shapes)))}); "
            "a stream task must draw batches of one shape to be trained as an ensemble"
        )
    return torch.stack([b.inputs for b in batches]), torch.stack([b.targets for b in batches])


def _checkpoint(
    members: Sequence[tuple[Run, Prepared]], recorders: Sequence[Recorder], stacked: _Stacked, optimizer: _Optimizer, step: int
) -> None:
    """Each member's checkpoint of `step`, in `state.training_state`'s format."""
    rng = torch.get_rng_state()
    for index, ((_, prepared), recorder) in enumerate(zip(members, recorders)):
        model = prepared.model
        stacked.load_into(index, model)
        tensors = {f"model.{name}": t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
        tensors.update(optimizer.member_state(index))
        tensors["rng.torch"] = rng
        recorder.checkpoint(step, tensors, {"step": step})

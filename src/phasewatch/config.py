"""Experiment configuration: TOML presets, `--config FILE`, `--set key=value`, validation.

A config has the sections `task`, `model`, `train`, `probes` and `events`, plus `seed` and
`description`. Built-in experiments are presets in `phasewatch/experiments/*.toml`. `--set`
takes a dotted key (`train.lr=3e-3`) or a bare one when it names one field (`p=97`, `seed=1`).
Every problem becomes a one-line `UserError`: the field, the value, and what is allowed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import tomllib
from pydantic import BaseModel, Field, ValidationError, model_validator

from phasewatch import models, probes, tasks  # noqa: F401  (importing them registers every task, model and probe)
from phasewatch.errors import UserError
from phasewatch.models.base import ModelConfig
from phasewatch.models.transformer import TransformerConfig
from phasewatch.probes.llc import LLCConfig
from phasewatch.schema import Section
from phasewatch.tasks.base import TaskConfig
from phasewatch.tasks.modular import ModularTaskConfig

Beta = Annotated[float, Field(ge=0, lt=1, strict=True)]


class TrainConfig(Section):
    steps: int = Field(2000, ge=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0, le=1e3)
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD only")
    weight_decay: float = Field(1.0, ge=0)
    decay_ratio: float = Field(1.0, ge=0, description="weight decay of the model's shared pathway ÷ weight_decay")
    # lax for the tuple (TOML and JSON give an array), strict for its numbers
    betas: tuple[Beta, Beta] = Field((0.9, 0.98), strict=False)
    warmup_steps: int = Field(10, ge=0)
    batch_size: int = Field(0, ge=0, description="0 = full batch")
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(1, ge=1, le=1024, description="torch threads per run (1: two runs beat one 2-thread run)")
    checkpoint_every: int = Field(500, ge=1)

    @model_validator(mode="after")
    def _decay_shrinks(self) -> TrainConfig:
        """Weight decay multiplies the weights by 1 − lr·wd each step (AdamW's decoupled decay, and
        SGD's): at lr·wd ≥ 1 every step flips or zeroes them, a run of NaNs rather than training."""
        decay = self.lr * self.weight_decay * max(1.0, self.decay_ratio)
        if decay >= 1:
            raise ValueError(
                f"train.weight_decay: {self.weight_decay:g} with lr {self.lr:g} (decay ratio {self.decay_ratio:g}) "
                "is not allowed (lr × weight_decay must stay below 1: each step multiplies the weights by 1 − lr·wd)"
            )
        return self


class ProbeConfig(Section):
    names: list[str] = ["behaviour", "weight_norm", "class_gram"]
    every: int = Field(25, ge=1, description="linear part of the schedule")
    log_points: int = Field(30, ge=0, description="log-spaced part of the schedule")
    adaptive: bool = Field(False, description="probe densely while a watched metric changes (record/adaptive.py)")
    adaptive_every: int = Field(0, ge=0, description="spacing of the extra probes (0: every // 5)")
    adaptive_budget: int = Field(100, ge=0, description="the most extra probes in a run")
    llc: LLCConfig = LLCConfig()

    def options(self) -> dict[str, Section]:
        """Probe name → its own settings, for the probe context (`ProbeContext.options`)."""
        return {"llc": self.llc}


class EventConfig(Section):
    watch: list[str] = ["train/*", "test/*"]
    structure_metrics: list[str] = []
    structure_windows: list[str] = Field([], description="alignment metrics whose rise and fall (the structure window) are dated")
    fit_ufm: bool = Field(False, description="fit the coupled UFM's alignment curve to the first structure window metric")
    phases: dict[str, list[str]] = Field(
        {}, description="phase name → metric patterns whose events open it, in order (analysis/timeline.py)"
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_expect(cls, raw: Any) -> Any:
        """Runs recorded before `events.expect` was removed (nothing read it) still load and resume."""
        if isinstance(raw, dict) and "expect" in raw:
            raw = {key: value for key, value in raw.items() if key != "expect"}
        return raw


class InterventionConfig(Section):
    """Acting on training from what the probes see (docs/science/structure_before_collapse.md,
    "Keeping the structure"). Everything off by default."""

    keep_peak: str = Field("", description="metric whose peak is kept (its model state saved), decided live")
    patience: int = Field(5, ge=1, description="probes past the peak before keep-peak decides")
    stop_at_peak: bool = Field(False, description="stop training once keep-peak has decided")
    structure_penalty: float = Field(0.0, ge=0, description="μ in μ·max(0, target − alignment)² on the features")
    structure_target: float = Field(0.5, description="the alignment the penalty holds the features to")
    attribute_smoothing: float = Field(0.0, ge=0, lt=1, description="ε: target mass moved to items sharing attributes")


class CurriculumConfig(Section):
    """A phase-aware data schedule: stage-0 data (the task's easy stream) until `metric` has
    reached `floor` and gained less than `tolerance` over `patience` probes, then stage 1. Off
    when `metric` is empty (train/curriculum.py)."""

    metric: str = Field("", description="probe metric whose saturation ends stage 0 (e.g. selection/syntactic_accuracy)")
    floor: float = Field(0.9, description="the metric must first reach this")
    patience: int = Field(3, ge=1, description="probes the metric must stay flat")
    tolerance: float = Field(0.01, ge=0, description="the most it may gain over those probes")


TASKS = TaskConfig.kinds  # name → config class, as the task modules register them
MODELS = ModelConfig.kinds


class ExperimentConfig(Section):
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63, description="torch seeds are 64-bit")
    setting: str = Field("", description="the preset's variant (its [settings.NAME] table), if it has any")
    # the union of every registered kind, built at import (so neither a `|` chain nor a literal Union can spell it)
    task: Annotated[Union[tuple(TASKS.values())], Field(discriminator="name")] = ModularTaskConfig()  # type: ignore[valid-type]  # noqa: UP007
    model: Annotated[Union[tuple(MODELS.values())], Field(discriminator="name")] = TransformerConfig()  # type: ignore[valid-type]  # noqa: UP007
    train: TrainConfig = TrainConfig()
    probes: ProbeConfig = ProbeConfig()
    events: EventConfig = EventConfig()
    interventions: InterventionConfig = InterventionConfig()
    curriculum: CurriculumConfig = CurriculumConfig()


def experiment_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("phasewatch.experiments").iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> dict[str, Any]:
    if name not in experiment_names():
        raise UserError(f"experiment: {name!r} is not a built-in experiment (choose from: {', '.join(experiment_names())})")
    return tomllib.loads(resources.files("phasewatch.experiments").joinpath(f"{name}.toml").read_text())


def load_toml(path: str | Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"--config: file {str(path)!r} does not exist") from None
    except OSError as error:  # a directory, no permission, ...
        raise UserError(f"--config: {str(path)!r} cannot be read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"--config: {str(path)!r} is not valid TOML ({error})") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


TABLES = ("task", "model", "train", "probes", "events", "interventions", "curriculum")


def check_shape(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` itself, after checking that each section is a table and `settings` a table of
    tables (a config file's `task = 5` or `[[task]]`); UserError naming the key otherwise."""
    for key in TABLES:
        if key in raw and not isinstance(raw[key], dict):
            raise UserError(f"{key}: {raw[key]!r} is not allowed (a table: [{key}] with key = value lines)")
    variants = raw.get("settings", {})
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise UserError(f"settings: {variants!r} is not allowed (tables: [settings.NAME] with key = value lines)")
    return raw


def _field_paths(raw: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every settable key, given the task and model kinds the raw config picks."""
    sections: dict[str, type[BaseModel]] = {
        "task": TASKS.get(raw.get("task", {}).get("name"), ModularTaskConfig),
        "model": MODELS.get(raw.get("model", {}).get("name"), TransformerConfig),
        "train": TrainConfig,
        "probes": ProbeConfig,
        "events": EventConfig,
        "interventions": InterventionConfig,
        "curriculum": CurriculumConfig,
    }
    fields: list[tuple[str, ...]] = [("description",), ("seed",), ("setting",)]
    for name, model in sections.items():
        for key, info in model.model_fields.items():
            inner = info.annotation
            if isinstance(inner, type) and issubclass(inner, BaseModel):  # a table in the table: probes.llc.every
                fields += [(name, key, sub) for sub in inner.model_fields]
            else:
                fields.append((name, key))
    return fields


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as `transformer` or `+`


def apply_overrides(raw: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply `key=value` strings: dotted keys, or bare keys that name exactly one field."""
    raw = copy.deepcopy(raw)
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            raise UserError(f"--set: {assignment!r} is not of the form key=value")
        paths = _field_paths(raw)
        # a bare key names a field of a section, never one of a table inside it (`every`: probes.every)
        matches = [p for p in paths if ".".join(p) == key] or [p for p in paths if p[-1] == key and len(p) <= 2]
        if len(matches) != 1:
            known = sorted({p[-1] for p in paths if len(p) <= 2} | {".".join(p) for p in paths if len(p) > 1})
            problem = "is ambiguous" if matches else "is not a known key"
            raise UserError(f"--set: {key!r} {problem} (known: {', '.join(known)})")
        *sections, field = matches[0]
        target = raw
        for section in sections:
            target = target.setdefault(section, {})
        target[field] = _parse_value(text)
    return raw


def shown(value: Any) -> str:
    """`repr(value)`, cut short when long (a message stays one readable line)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}… ({len(text)} characters)"


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    parts = [str(part) for part in first["loc"]]
    kind = ""
    if len(parts) > 1 and parts[0] in ("task", "model") and parts[1] in {*TASKS, *MODELS}:
        kind = parts.pop(1)  # pydantic puts the union member's tag in the location (a tag may also be a field: corpus)
    location = ".".join(parts)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):  # the task's or model's kind
        tag = first["input"].get("name") if isinstance(first["input"], dict) else None
        problem = f"{shown(tag)} is not allowed" if first["type"] == "union_tag_invalid" else "is missing"
        return f"{location}.name: {problem} (choose from: {', '.join(TASKS if location == 'task' else MODELS)})"
    if first["type"] == "extra_forbidden":
        return f"{location}: is not a known key" + (f" of a {parts[0]} with name = {kind!r}" if kind else "")
    if message.startswith(f"{location}."):  # a rule across fields names its own field
        return message
    if message.split(":", 1)[0].isidentifier() and ": " in message:  # a section's rule on one of its fields
        return f"{location}.{message}" if location else message
    return f"{location}: {shown(first['input'])} is not allowed ({message})"


def validate(raw: dict[str, Any]) -> ExperimentConfig:
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError(_describe(error)) from None
    probes.check_names(config.probes.names, "probes.names")
    return config


def resolve(
    experiment: str | None, config_file: str | None = None, assignments: Sequence[str] = ()
) -> tuple[str, ExperimentConfig]:
    """The experiment's name and its validated config: preset, then file, then `--set`."""
    raw: dict[str, Any] = load_preset(experiment) if experiment else {}
    if config_file:
        raw = _merge(raw, check_shape(load_toml(config_file)))
    name = experiment or Path(config_file or "custom").stem
    raw, assignments = choose_setting(raw, list(assignments))
    return name, validate(apply_overrides(raw, assignments))


def choose_setting(raw: dict[str, Any], assignments: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Merge the chosen `[settings.NAME]` table (from `--set setting=NAME`, else the preset's
    `setting`) over the preset; the other assignments apply after it, to the chosen variant."""
    chosen = [a.partition("=")[2] for a in assignments if a.partition("=")[0] == "setting"]
    rest = [a for a in assignments if a.partition("=")[0] != "setting"]
    raw = copy.deepcopy(raw)
    variants = raw.pop("settings", {})
    setting = chosen[-1] if chosen else raw.get("setting", "")
    if not variants:
        if setting:
            raise UserError(f"setting: {shown(setting)} is not allowed (this experiment has no settings)")
        return raw, rest
    if setting not in variants:
        raise UserError(f"setting: {shown(setting)} is not allowed (choose from: {', '.join(variants)})")
    return _merge(raw, {**variants[setting], "setting": setting}), rest


def preset_config(name: str, setting: str = "") -> ExperimentConfig:
    """A built-in experiment's validated config, with its `setting` variant (default: the preset's own)."""
    raw, _ = choose_setting(load_preset(name), [f"setting={setting}"] if setting else [])
    return validate(raw)


def preset_variants(name: str) -> list[str]:
    """The names of a built-in experiment's `[settings.NAME]` variants (none for most)."""
    return list(load_preset(name).get("settings", {}))


def flatten(config: ExperimentConfig | dict[str, Any]) -> dict[str, Any]:
    """Every setting as `dotted.key -> value` (JSON-ready values): the keys `--set` takes,
    `seed`, `train.lr` and `probes.llc.every`; a mapping inside a section (`events.phases`) stays one value."""
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    tables = {path[:2] for path in _field_paths(data) if len(path) == 3}  # settable tables: probes.llc
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(value, dict):
            flat[key] = value
            continue
        for field, inner in value.items():
            if (key, field) in tables and isinstance(inner, dict):
                flat.update({f"{key}.{field}.{sub}": setting for sub, setting in inner.items()})
            else:
                flat[f"{key}.{field}"] = inner
    return flat


def format_value(value: Any) -> str:
    """A setting's value as TOML text, so that `key=<it>` is also a valid `--set`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return "nan" if value != value else "inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{k if k.replace('_', '').replace('-', '').isalnum() else json.dumps(k)} = {format_value(v)}"
            for k, v in value.items()
        )
        return "{ " + ", ".join(items) + " }" if value else "{}"
    if value is None:
        return "(none)"
    return str(value)


def differences_from_preset(experiment: str, config: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """`(dotted key, preset value, run value)` for every setting in which a run's validated config
    (run.json's `config`) differs from its built-in experiment, compared with the variant the run
    chose; the chosen variant itself comes first when it is not the preset's default. A key only one
    side has (another task or model kind) has None on the other. [] when `experiment` is not a
    built-in experiment (a watched or analyzed run, a --config file on its own)."""
    if experiment not in experiment_names():
        return []
    setting = config.get("setting", "")
    preset, run = flatten(preset_config(experiment, setting)), flatten(config)
    keys = [*preset, *(key for key in run if key not in preset)]
    differences = [(key, preset.get(key), run.get(key)) for key in keys if preset.get(key) != run.get(key)]
    default = load_preset(experiment).get("setting", "")
    if setting and setting != default:
        differences.insert(0, ("setting", default, setting))
    return differences

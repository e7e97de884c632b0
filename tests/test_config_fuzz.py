"""A config fuzzer: every key of every built-in experiment (and of each of its variants) gets a
fixed, seeded list of hostile `--set KEY=VALUE` texts: wrong types, booleans, NaN and infinities,
negative and huge numbers, empty and very long strings, arrays and tables of the wrong shape.

Each must either be refused with a one-line `UserError` that names the key, or be accepted; no
other exception may escape `resolve`. A value of the wrong type (by the field's own annotation,
judged strictly: no booleans or strings for numbers, no numbers for booleans or strings, no
NaN or infinity) must be refused. Huge but well-typed values of fields with no natural upper
bound may pass `resolve` (the memory estimate before training is their check); the summary
(`pytest -s`) counts them.
"""

from __future__ import annotations

import json
import math
import random
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import pytest
import tomllib

from phasewatch import cli
from phasewatch.config import MODELS, TASKS, ExperimentConfig, experiment_names, flatten, preset_config, preset_variants, resolve
from phasewatch.errors import UserError

SEED = 20240611


def hostile_values() -> list[str]:
    """The `--set` value texts (TOML), the same on every run."""
    fixed = [
        # strings: where a number is, a number's text, empty, very long
        '"text"',
        '"7"',
        '""',
        json.dumps("x" * 5000),
        # numbers where a string or a boolean is; negative; a fraction for an integer
        "7",
        "0",
        "-1",
        "-2.5",
        "1.5",
        # booleans
        "true",
        "false",
        # not finite
        "nan",
        "inf",
        "-inf",
        # huge
        "1e308",
        "-1e308",
        str(10**30),
        str(2**63),
        str(-(2**63) - 1),
        # shapes: arrays (empty, of the wrong element, too short or long, nested) and tables
        "[1, 2]",
        "[]",
        '["a"]',
        "[true]",
        "[nan]",
        "[0.5]",
        "[0.5, 0.5, 0.5]",
        "[[1]]",
        "[{a = 1}]",
        "{a = 1}",
        "{}",
        # not TOML at all (taken as the bare text)
        "not toml [",
    ]
    rng = random.Random(SEED)
    seeded = [
        str(rng.randint(-(10**12), -1)),
        repr(rng.uniform(1e200, 1e300)),
        str(rng.randint(2**40, 2**62)),
        json.dumps("".join(rng.choice('ab "\\\n\t\x00é€😀') for _ in range(24))),
        "[" + ", ".join(str(rng.randint(-5, 5)) for _ in range(rng.randint(3, 6))) + "]",
    ]
    return fixed + seeded


VALUES = hostile_values()


def parse(text: str) -> Any:
    """The value `--set` makes of a text (as `config.apply_overrides` reads it)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def annotation_of(config: ExperimentConfig, key: str) -> Any:
    *sections, field = key.split(".")
    if sections in (["task"], ["model"]) and field == "name":  # the kind: any registered one
        return Literal[tuple(TASKS if sections == ["task"] else MODELS)]
    owner: Any = config
    for section in sections:  # a section, or a table inside one (probes.llc)
        owner = getattr(owner, section)
    return type(owner).model_fields[field].annotation


def well_typed(value: Any, annotation: Any) -> bool:
    """Whether `value` has the field's type, strictly (a bool is no number, an int no bool)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return well_typed(value, args[0])
    if origin is Literal:
        return isinstance(value, str) and value in args
    if origin is list:
        return isinstance(value, list) and all(well_typed(item, args[0]) for item in value)
    if origin is tuple:
        return isinstance(value, list) and len(value) == len(args) and all(map(well_typed, value, args))
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and well_typed(v, args[1]) for k, v in value.items())
    if annotation is bool or annotation is str:
        return type(value) is annotation
    if annotation is int:
        return type(value) is int
    if annotation is float:
        return type(value) in (int, float) and math.isfinite(value)
    raise AssertionError(f"the fuzzer does not know the field type {annotation!r}: teach well_typed")


@dataclass
class Outcome:
    experiment: str
    setting: str
    key: str
    text: str
    well_typed: bool
    numeric: bool  # an int or float field
    result: str  # "refused", "accepted" or "bug"
    detail: str  # the UserError's message, or the other exception

    def __str__(self) -> str:
        where = f"{self.experiment}" + (f" (setting={self.setting})" if self.setting else "")
        text = self.text if len(self.text) <= 60 else self.text[:50] + f"… ({len(self.text)} chars)"
        detail = self.detail if len(self.detail) <= 300 else self.detail[:300] + f"… ({len(self.detail)} chars)"
        return f"{where}: --set {self.key}={text} -> {self.result}: {detail}"


def targets() -> list[tuple[str, str, str, Any]]:
    """(experiment, setting, key, annotation): every key of every preset, and the keys each
    variant adds (another task or model kind) under that variant."""
    found = []
    for experiment in experiment_names():
        seen: set[str] = set()
        for setting in ["", *preset_variants(experiment)]:
            config = preset_config(experiment, setting)
            for key in flatten(config):
                if key not in seen:
                    seen.add(key)
                    found.append((experiment, setting, key, annotation_of(config, key)))
    return found


@cache
def outcomes() -> tuple[Outcome, ...]:
    results = []
    for experiment, setting, key, annotation in targets():
        before = [f"setting={setting}"] if setting and key != "setting" else []
        for text in VALUES:
            typed = well_typed(parse(text), annotation)
            numeric = annotation in (int, float)
            try:
                resolve(experiment, None, [*before, f"{key}={text}"])
            except UserError as error:
                result, detail = "refused", str(error)
            except Exception as error:  # noqa: BLE001  (what the fuzzer is looking for)
                result, detail = "bug", f"{type(error).__name__}: {error}"
            else:
                result, detail = "accepted", ""
            results.append(Outcome(experiment, setting, key, text, typed, numeric, result, detail))
    return tuple(results)


def report(failures: list[Outcome], what: str) -> str:
    return f"{len(failures)} {what}:\n" + "\n".join(map(str, failures[:60]))


def test_summary():
    done = outcomes()
    count = {result: sum(o.result == result for o in done) for result in ("refused", "accepted", "bug")}
    keys = len({(o.experiment, o.key) for o in done})
    huge = sum(o.result == "accepted" and o.well_typed and o.text in ("1e308", str(10**30), str(2**63)) for o in done)
    print(
        f"\nconfig fuzz: {keys} keys x {len(VALUES)} values = {len(done)} tried, {count['refused']} refused, "
        f"{count['accepted']} accepted ({huge} of them huge), {count['bug']} bugs"
    )
    assert count["refused"] > count["accepted"] > 0


def test_nothing_but_user_errors_escape():
    bugs = [o for o in outcomes() if o.result == "bug"]
    assert not bugs, report(bugs, "values raised something other than UserError")


def names_the_key(outcome: Outcome) -> bool:
    """The message names the key; or, for a well-typed value, the field of the same section a
    rule across fields names (`task.seq_len=7` -> `task.max_repeat: 32 is not allowed (two
    copies must fit: at most 4)`)."""
    section, _, field = outcome.key.rpartition(".")
    across = outcome.detail.startswith(f"{section}.") and " is not allowed (" in outcome.detail
    return field in outcome.detail or (outcome.well_typed and bool(section) and across)


def test_refusals_are_one_line_and_name_the_key():
    bad = [o for o in outcomes() if o.result == "refused" and ("\n" in o.detail or len(o.detail) > 400 or not names_the_key(o))]
    assert not bad, report(bad, "refusals are not one short line naming the key")


def test_wrong_types_and_non_finite_numbers_are_refused():
    # wrong types include a boolean, NaN or infinity for a number (well_typed judges them)
    bad = [o for o in outcomes() if not o.well_typed and o.result == "accepted"]
    assert not bad, report(bad, "values of the wrong type were accepted")
    checked = {o.text for o in outcomes() if o.numeric and not o.well_typed}
    assert {"nan", "inf", "-inf", "true", "false", '"7"', "[1, 2]", "{a = 1}"} <= checked


def test_every_preset_and_variant_key_is_fuzzed():
    fuzzed = {(o.experiment, o.key) for o in outcomes()}
    for experiment in experiment_names():
        assert {(experiment, key) for key in flatten(preset_config(experiment))} <= fuzzed
    assert ("structure-before-collapse", "task.lexnames") in fuzzed  # a key only a variant (text) has


@pytest.mark.parametrize(
    "assignment",
    ["train.lr=nan", "train.steps=true", "train.threads=100000000000000000000", "model.width=[64]", 'train.lr="1e-3"'],
)
def test_the_cli_refuses_bad_values_before_any_run_folder_exists(tmp_path, capsys, assignment):
    store = tmp_path / "store"
    # one cheap step on the CPU should the refusal ever go missing, so the test stays short
    argv = ["--store", str(store), "run", "grokking-mlp", "--set", "train.steps=1", "--set", "train.device=cpu"]
    assert cli.main([*argv, "--set", assignment]) == 2
    assert list(tmp_path.iterdir()) == []
    error = capsys.readouterr().err.strip()
    assert error.startswith("phasewatch: error: ") and "\n" not in error
    assert assignment.partition("=")[0].split(".")[-1] in error

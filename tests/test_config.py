import pytest

from phasewatch.config import apply_overrides, experiment_names, load_preset, resolve, validate
from phasewatch.errors import UserError


def test_every_preset_validates():
    assert {"grokking", "grokking-mlp", "grokking-no-wd"} <= set(experiment_names())
    for name in experiment_names():
        resolve(name)


def test_bare_and_dotted_overrides():
    _, config = resolve("grokking", assignments=["p=97", "seed=3", "train.lr=3e-3", "operation=*", "betas=[0.9, 0.99]"])
    assert (config.task.p, config.seed, config.train.lr, config.task.operation, config.train.betas) == (
        97,
        3,
        3e-3,
        "*",
        (0.9, 0.99),
    )


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("p=-3", "task.p: -3 is not allowed"),
        ("p=15", "task.p: 15 is not allowed (must be a prime)"),
        ("train_fraction=1.5", "task.train_fraction: 1.5 is not allowed"),
        ("nonsense=1", "'nonsense' is not a known key"),
        ("name=mlp", "'name' is ambiguous"),
        ("steps", "is not of the form key=value"),
        ("operation=%", "task.operation: '%' is not allowed"),
        ("probes.names=['nope']", "probes.names: 'nope' is not a probe"),
        # values torch would reject after the run exists, and booleans taken for numbers
        ("steps=true", "train.steps: True is not allowed (a number, not a boolean)"),
        ("p=false", "task.p: False is not allowed (a number, not a boolean)"),
        ("lr=inf", "train.lr: inf is not allowed (Input should be a finite number)"),
        ("weight_decay=nan", "train.weight_decay: nan is not allowed (Input should be a finite number)"),
        ("lr=1e308", "train.lr: 1e+308 is not allowed (Input should be less than or equal to 1000)"),
        ("betas=[0.9, 1.0]", "train.betas.1: 1.0 is not allowed (Input should be less than 1)"),
        ("betas=[nan, 0.9]", "train.betas.0: nan is not allowed (Input should be a finite number)"),
        ("seed=9223372036854775808", "seed: 9223372036854775808 is not allowed (Input should be less than 9223372036854775808)"),
    ],
)
def test_bad_values_are_one_line_user_errors(assignment, message):
    with pytest.raises(UserError) as error:
        resolve("grokking", assignments=[assignment])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_experiment_and_unknown_section_key():
    with pytest.raises(UserError, match="not a built-in experiment"):
        load_preset("nope")
    with pytest.raises(UserError, match="train.colour: is not a known key"):
        validate({"train": {"colour": "red"}})


def test_config_file_merges_over_preset(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[train]\nsteps = 7\n")
    name, config = resolve("grokking", str(path))
    assert name == "grokking" and config.train.steps == 7 and config.task.p == 59
    path.write_text("[train\n")
    with pytest.raises(UserError, match="is not valid TOML"):
        resolve("grokking", str(path))
    with pytest.raises(UserError, match="does not exist"):
        resolve("grokking", str(tmp_path / "missing.toml"))
    with pytest.raises(UserError, match="cannot be read"):
        resolve("grokking", str(tmp_path))


def test_model_kind_decides_the_settable_keys():
    raw = apply_overrides(load_preset("grokking-mlp"), ["width=64"])
    assert raw["model"]["width"] == 64
    with pytest.raises(UserError, match="'d_model' is not a known key"):
        apply_overrides(load_preset("grokking-mlp"), ["d_model=64"])


def test_every_setting_of_every_preset_validates():
    for name in experiment_names():
        for setting in load_preset(name).get("settings", {}):
            _, config = resolve(name, assignments=[f"setting={setting}"])
            assert config.setting == setting


def test_a_setting_applies_before_the_other_overrides():
    _, config = resolve("structure-before-collapse", assignments=["decay_ratio=1", "setting=hierarchical", "seed=2"])
    assert (config.task.name, config.model.item_pathway, config.train.decay_ratio, config.seed) == (
        "hierarchical",
        "input",
        1.0,
        2,
    )


def test_an_unknown_setting_names_the_choices():
    with pytest.raises(UserError, match="setting: 'nope' is not allowed \\(choose from: .*selectional"):
        resolve("structure-before-collapse", assignments=["setting=nope"])
    with pytest.raises(UserError, match="setting: 'x' is not allowed \\(this experiment has no settings\\)"):
        resolve("grokking", assignments=["setting=x"])


@pytest.mark.parametrize(
    "experiment, assignment, message",
    [
        ("induction", "max_repeat=40", "task.max_repeat: 40 is not allowed (two copies must fit: at most 32)"),
        ("induction", "min_repeat=33", "task.min_repeat: 33 is not allowed (at most max_repeat = 32)"),
        ("induction", "init=xavier", "model.init: 'xavier' is not allowed"),
        ("grammar", "setting=nope", "setting: 'nope' is not allowed (choose from: plain, phase-aware)"),
        ("grammar", "curriculum.patience=0", "curriculum.patience: 0 is not allowed"),
        ("corpus", "corpus=shakespeare", "task.corpus: 'shakespeare' is not allowed"),
    ],
)
def test_phase_experiment_settings_give_one_line_errors(experiment, assignment, message):
    with pytest.raises(UserError) as error:
        resolve(experiment, assignments=[assignment])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_flatten_gives_every_set_key_and_format_value_reads_back_through_set():
    from phasewatch.config import flatten, format_value, preset_config

    for name in ("grokking", "grammar"):  # grammar: a [events.phases] table and a variant
        config = preset_config(name)
        flat = flatten(config)
        assert flat["train.steps"] == config.train.steps and flat["seed"] == config.seed
        assert not any(key.startswith("settings") for key in flat)
        # every printed `key = value` is a --set that gives back the same config
        assignments = [f"{key}={format_value(value)}" for key, value in flat.items() if key != "setting"]
        assert resolve(name, assignments=assignments)[1] == config
    assert [format_value(v) for v in (True, 'a"b', 1e-3, [0.9, 0.98], {}, {"a b": [1]}, None)] == [
        "true",
        '"a\\"b"',
        "0.001",
        "[0.9, 0.98]",
        "{}",
        '{ "a b" = [1] }',
        "(none)",
    ]


def test_differences_from_preset():
    from phasewatch.config import differences_from_preset

    _, config = resolve("grokking", assignments=["train.steps=60", "p=7", "device=cpu"])
    assert differences_from_preset("grokking", config.model_dump(mode="json")) == [
        ("task.p", 59, 7),
        ("train.steps", 4500, 60),
        ("train.device", "auto", "cpu"),
    ]
    assert differences_from_preset("grokking", resolve("grokking")[1].model_dump(mode="json")) == []
    # a variant is compared with that variant, and named first when it is not the preset's default
    _, variant = resolve("structure-before-collapse", assignments=["setting=hierarchical", "seed=3"])
    assert differences_from_preset("structure-before-collapse", variant.model_dump(mode="json")) == [
        ("setting", "selectional", "hierarchical"),
        ("seed", 0, 3),
    ]
    # another model kind: keys that only one side has come with None on the other
    differences = differences_from_preset("grokking", resolve("grokking-mlp")[1].model_dump(mode="json"))
    assert ("model.name", "transformer", "mlp") in differences
    assert ("model.d_model", 128, None) in differences and ("model.width", None, 512) in differences
    # not a preset: a watched or analyzed run, a --config file on its own
    for experiment in ("watch", "analyze", "tiny-60-20"):
        assert differences_from_preset(experiment, config.model_dump(mode="json")) == []


def test_a_run_recorded_with_the_removed_events_expect_still_loads():
    config = validate({"events": {"watch": ["train/*"], "expect": ["grokking"]}})
    assert config.events.watch == ["train/*"] and "expect" not in config.events.model_dump()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("task = 5", "task: 5 is not allowed (a table"),
        ("train = [1, 2]", "train: [1, 2] is not allowed (a table"),
        ('[[task]]\nname = "modular"', "task: [{'name': 'modular'}] is not allowed (a table"),
        ("settings = 3", "settings: 3 is not allowed (tables"),
        ("[settings]\na = 1", "settings: {'a': 1} is not allowed (tables"),
    ],
)
def test_a_config_file_of_the_wrong_shape_is_one_user_error(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body + "\n")
    with pytest.raises(UserError) as raised:
        resolve("grokking", str(path), ["seed=1"])
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)

"""The `phasewatch` command's flags: every subcommand, its arguments and their help (cli.py runs them)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from phasewatch.cli_fits import add_fit_commands
from phasewatch.errors import UserError
from phasewatch.probes import PROBES
from phasewatch.serve.cli import add_serve_command


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """Every command, its flags and their help."""
    parser = Parser(
        prog="phasewatch",
        description="Watch structure form inside a network while it trains.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="start here:\n  phasewatch experiments          what is built in\n"
        "  phasewatch experiments NAME     an experiment's settings, each a --set key\n"
        "  phasewatch run grokking         train, detect transitions, write runs/<run>/report.html\n"
        "  phasewatch run --help           settings, resume, devices",
    )
    parser.add_argument(
        "--store",
        help="store directory (default: $PHASEWATCH_STORE, else ./runs); also "
        "accepted after the subcommand, which wins when both are given",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    experiments = commands.add_parser("experiments", help="list the built-in experiments, or one experiment's settings")
    experiments.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="an experiment: print its settings as KEY = VALUE (each a --set key) and its variants",
    )

    commands.add_parser("probes", help="the probes: what each needs and the metrics it records, with their meaning")

    run = commands.add_parser(
        "run",
        help="train an experiment, detect its phase transitions, write its report",
        description="Examples: phasewatch run grokking --set p=97 --set seed=1;  phasewatch run --resume RUN",
    )
    run.add_argument("experiment", nargs="?", help="a built-in experiment (see `phasewatch experiments`)")
    run.add_argument("--config", metavar="FILE", help="TOML file merged over the experiment's preset")
    run.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting: p=97, seed=1, train.lr=3e-3 (repeatable)",
    )
    run.add_argument("--name", help="run id (default: EXPERIMENT-sSEED-TIME)")
    run.add_argument("--resume", metavar="RUN", help="continue a stopped run from its newest checkpoint")
    run.add_argument("--overwrite", action="store_true", help="replace an existing run of the same name")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default: auto)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--forecast", metavar="FILE", help="a fitted forecaster (`phasewatch forecast fit`) that forecasts its target live"
    )

    series = commands.add_parser(
        "analyze",
        help="probe a saved checkpoint series into a run, as if watched live",
        description="Examples: phasewatch analyze out/ --probe-data probes.jsonl  "
        "(out/ holds checkpoint-500/, checkpoint-1000/, ... or step_500.safetensors, ...);  "
        "phasewatch analyze out/ --probe-data probes.jsonl --backend ray --address HEAD:6379",
    )
    series.add_argument(
        "directory",
        metavar="DIR",
        help="folder of *.safetensors files or save_pretrained "
        "directories (checkpoint-500/, step1000/): the step is the last number in the name",
    )
    series.add_argument(
        "--probe-data",
        required=True,
        metavar="FILE",
        help='JSONL, one {"tokens": [ids...], "label": int, "attributes": [...]} per line '
        '(label, attributes optional; "input_ids" may name the token ids instead of "tokens"); '
        "or a text file with --tokenizer",
    )
    series.add_argument(
        "--factory",
        metavar="MODULE:FUNCTION",
        help="a function that builds the model (default: each checkpoint's config.json, via transformers)",
    )
    series.add_argument("--tokenizer", metavar="DIR", help="a local tokenizer directory, for a text probe file")
    series.add_argument(
        "--site",
        dest="sites",
        action="append",
        metavar="MODULE",
        help="a module whose output to probe (repeatable; default: every transformer block)",
    )
    series.add_argument(
        "--probe",
        dest="probes",
        action="append",
        choices=PROBES,
        help="a probe to run (repeatable; default: every one the probe data allows, but the costly llc, which runs only when named)",
    )
    series.add_argument("--batch-size", type=int, default=64, metavar="N", help="probe items per forward pass (default: 64)")
    series.add_argument("--name", help="run id (default: analyze-<folder name>); an existing one is resumed")
    series.add_argument("--overwrite", action="store_true", help="replace an existing run of the same name")
    series.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to run the model (default: cpu)")
    series.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="local: one checkpoint after another, here (default); ray: one Ray task per checkpoint "
        "(pip install 'phasewatch[ray]'), on a local cluster or the one at --address; both write the same run",
    )
    series.add_argument(
        "--address",
        metavar="ADDR",
        help="with --backend ray: join the running cluster at HOST:PORT (or ray://HOST:PORT, auto); its workers "
        "read the checkpoints, so the series (and the store) must be shared storage at the same path on every node (checked first)",
    )
    series.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --backend ray: checkpoints at once (default: the cores; with --address: the cluster's)",
    )
    series.add_argument("--no-progress", action="store_true", help="no line per checkpoint")

    sweep = commands.add_parser(
        "sweep",
        help="run every point of a sweep file (again: only the missing or failed ones), or show its status",
        description="Examples: phasewatch sweep grid.toml --workers 2;  phasewatch sweep grid.toml --backend ray;  "
        "phasewatch sweep grid.toml --backend ray --address HEAD:6379;  phasewatch sweep status NAME",
    )
    sweep.add_argument(
        "target", metavar="FILE|NAME|status|report", help="a sweep file (TOML) or a built-in sweep's name; or `status`, `report`"
    )
    sweep.add_argument("name", nargs="?", metavar="NAME", help="with `status` or `report`: the sweep's name")
    sweep.add_argument(
        "--workers", type=int, metavar="N", help="points at once (default: the cores; with --address: the cluster's)"
    )
    sweep.add_argument(
        "--backend",
        metavar="local|ray|ensemble",
        help="local: a process pool here; ray: Ray tasks (pip install 'phasewatch[ray]'), on a local cluster "
        "or the one at --address; ensemble: points that differ only in seed, lr or weight decay as one "
        "vectorised model (default: the file's `backend`, else local); all write the same runs",
    )
    sweep.add_argument(
        "--address",
        metavar="ADDR",
        help="with --backend ray: join the running cluster at HOST:PORT (or ray://HOST:PORT, auto); its workers "
        "write the runs, so the store must be shared storage at the same path on every node (checked first)",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.add_argument("--x", metavar="KEY", help="with `report`: the phase diagram's x axis (default: the first varied axis)")
    sweep.add_argument("--y", metavar="KEY", help="with `report`: its y axis (default: the next varied axis)")
    sweep.add_argument("--event", default="grokking", metavar="KIND", help="with `report`: the event whose step is mapped")

    add_fit_commands(commands)
    add_serve_command(commands)
    commands.add_parser("runs", help="table of the runs in the store")
    compare = commands.add_parser(
        "compare",
        help="one page comparing runs grouped by a config key: curves (mean and spread per group), event statistics",
        description="Example: phasewatch compare r1 r2 r3 r4 --by weight_decay --metric restricted_loss/logits",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run ids (two or more)")
    compare.add_argument(
        "--by",
        required=True,
        metavar="KEY",
        help="the config key to group by: dotted (train.weight_decay) or a bare key that names one setting "
        "(weight_decay), as --set takes; or `experiment`",
    )
    compare.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        default=[],
        metavar="NAME",
        help="another metric to draw (repeatable; train/test loss and accuracy are drawn when every run has them)",
    )
    compare.add_argument(
        "--out", metavar="FILE", help="where to write the page (default: <store>/comparisons/compare-<KEY>.html)"
    )
    for name, text in (("show", "summary of a run: config, final metrics, events"), ("report", "(re)write RUN/report.html")):
        commands.add_parser(name, help=text).add_argument("run", help="run id")
    sql = commands.add_parser("sql", help="query every run's metrics with DuckDB (tables: metrics, runs)")
    sql.add_argument("query", help="e.g. \"SELECT run, max(value) FROM metrics WHERE metric = 'test/accuracy' GROUP BY run\"")
    sql.add_argument(
        "--unrestricted",
        action="store_true",
        help="full DuckDB with your file access (COPY, ATTACH, read_csv of any file); "
        "by default a query is read-only and reads nothing outside the store",
    )
    for command in commands.choices.values():  # `phasewatch runs --store X` as well as `phasewatch --store X runs`
        command.add_argument(
            "--store",
            default=argparse.SUPPRESS,  # unset here keeps the one before the subcommand
            help="store directory (default: $PHASEWATCH_STORE, else ./runs); wins over a --store given before the subcommand",
        )
    return parser

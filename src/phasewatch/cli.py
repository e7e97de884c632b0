"""The `phasewatch` command. Thin: parse flags, call the pipeline, print. Bad input → one line, exit 2."""

from __future__ import annotations

import argparse
import errno
import sys
import warnings

from rich.console import Console
from rich.table import Table

from phasewatch import config as configuration
from phasewatch import pipeline
from phasewatch.cli_fits import FIT_COMMANDS
from phasewatch.cli_parser import build_parser
from phasewatch.errors import UserError
from phasewatch.integrations import analyze
from phasewatch.probes import PROBES
from phasewatch.record.detection import analyse_if_missing
from phasewatch.report import print_summary, write_report
from phasewatch.report.compare import config_key, default_comparison_path, write_comparison
from phasewatch.report.phase_diagram import write_phase_diagram
from phasewatch.serve.cli import serve_command
from phasewatch.store import Run, list_runs, query, store_root
from phasewatch.store.query import EmptyStoreWarning
from phasewatch.sweep import load_sweep, run_sweep, sweep_status
from phasewatch.sweep.driver import STATES

# A store the user cannot write (read-only, full, not theirs): their setup to fix, said in one line.
STORAGE_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def _table(frame, title: str | None = None) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    return table


def _run(args: argparse.Namespace, console: Console) -> None:
    progress = not args.no_progress and console.is_terminal
    if args.resume:
        if args.experiment or args.config or args.assignments or args.forecast:
            raise UserError("--resume: takes no experiment, --config, --set or --forecast (a run keeps its own)")
        finished = pipeline.resume(args.resume, store=args.store, progress=progress)
    else:
        if not args.experiment and not args.config:
            raise UserError("run: name an experiment (see `phasewatch experiments`) or give --config FILE")
        assignments = args.assignments + ([f"train.device={args.device}"] if args.device else [])
        finished = pipeline.run(
            args.experiment,
            config_file=args.config,
            assignments=assignments,
            store=args.store,
            name=args.name,
            overwrite=args.overwrite,
            progress=progress,
            forecast=args.forecast,
        )
    print_summary(finished, console)
    console.print(f"report: {finished.path / 'report.html'}")


def _analyze(args: argparse.Namespace, console: Console) -> None:
    progress = not args.no_progress and console.is_terminal
    finished = analyze(
        args.directory,
        args.probe_data,
        store=args.store,
        name=args.name,
        factory=args.factory,
        tokenizer=args.tokenizer,
        sites=args.sites,
        probes=args.probes,
        batch_size=args.batch_size,
        device=args.device,
        overwrite=args.overwrite,
        on_checkpoint=(lambda step: console.print(f"step {step:,}: recorded")) if progress else None,
        backend=args.backend,
        address=args.address,
        workers=args.workers,
    )
    print_summary(finished, console)
    console.print(f"report: {finished.path / 'report.html'}")


def _sweep(args: argparse.Namespace, root, console: Console) -> None:
    """`phasewatch sweep FILE` runs what is missing; `sweep status NAME` counts and lists;
    `sweep report NAME` writes the phase diagram."""
    if args.target in ("status", "report"):
        if not args.name:
            raise UserError(f"sweep {args.target}: name the sweep (phasewatch sweep {args.target} NAME)")
        if args.backend or args.address:
            raise UserError(f"sweep {args.target}: takes no --backend or --address (they say how to run a sweep file)")
    if args.target == "report":
        console.print(f"phase diagram: {write_phase_diagram(root, args.name, x=args.x, y=args.y, event=args.event)}")
        return
    if args.target == "status":
        members = sweep_status(root, args.name)
        console.print("  ".join(f"{state} {sum(s == state for _, s, _ in members)}" for state in STATES))
        table = Table("run", "state", *members[0][2]) if members else Table("run", "state")
        for run_id, state, values in members:
            table.add_row(run_id, state, *map(str, values.values()))
        console.print(table)
        return
    if args.name:
        raise UserError(f"sweep: {args.name!r} is not allowed after a sweep file (NAME goes with `status`)")
    sweep = load_sweep(args.target)
    counts = run_sweep(
        sweep,
        root,
        workers=args.workers,
        progress=not args.no_progress and console.is_terminal,
        backend=args.backend,
        address=args.address,
    )
    console.print(f"sweep {sweep.name}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
    if counts["failed"]:
        raise UserError(f"sweep {sweep.name}: {counts['failed']} points failed (run the same command again to retry them)")


def _compare(args: argparse.Namespace, root) -> None:
    """`phasewatch compare RUN... --by KEY`: the runs grouped by a config key, on one page; every
    run and the key checked before anything is written."""
    run_ids = list(dict.fromkeys(args.runs))
    if len(run_ids) < 2:
        raise UserError(f"compare: needs two runs or more (got {len(run_ids)}: {', '.join(run_ids)})")
    runs = [Run.open(root, run_id) for run_id in run_ids]
    key = args.by if args.by == "experiment" else config_key(runs, args.by, "--by")
    out = args.out or default_comparison_path(root, key)
    path = write_comparison(runs, out, group_by=key, title=f"comparison by {key}", metrics=args.metrics)
    print(f"comparison: {path}")  # plain: a long path stays on one line


def _report(run: Run, console: Console) -> None:
    """`phasewatch report`: detect the events again if they were lost, then write the page."""
    run.lock()  # not while a resume rewrites the run
    try:
        if analyse_if_missing(run):
            print(f"events: {run.id} had no events.json; detected them again", file=sys.stderr)
        console.print(f"report: {write_report(run)}")
    finally:
        run.unlock()


def _experiment(name: str) -> None:
    """`phasewatch experiments NAME`: every setting as `key = value` (each a --set key), then the variants."""
    config = configuration.preset_config(name)
    for key, value in configuration.flatten(config).items():
        print(f"{key} = {configuration.format_value(value)}")
    if variants := configuration.preset_variants(name):
        print(
            f"settings: {', '.join(variants)} (the values above are for setting = {config.setting!r}; "
            "choose another with --set setting=NAME)"
        )


def _differences(run: Run) -> None:
    """`phasewatch show`: the settings in which a run differs from its built-in experiment (if it has one)."""
    experiment = run.info["experiment"]
    if experiment not in configuration.experiment_names():
        return  # a watched or analyzed run, or a --config file on its own: no preset to differ from
    try:
        differences = configuration.differences_from_preset(experiment, run.config)
    except UserError as error:  # the preset changed since the run (a variant renamed): the summary still stands
        print(f"settings: not compared with preset {experiment!r} ({error})")
        return
    if not differences:
        print(f"settings: as preset {experiment!r}")
        return
    print(f"settings that differ from preset {experiment!r} (preset -> run):")
    for key, preset, value in differences:
        print(f"  {key}: {configuration.format_value(preset)} -> {configuration.format_value(value)}")


def _sql(sql: str, root, console: Console, unrestricted: bool) -> None:
    """`phasewatch sql`: the store read on stderr (with a note when it holds no runs), the table on stdout."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = query(sql, root, unrestricted=unrestricted)
    store = frame.attrs["store"]
    print(f"store: {store}", file=sys.stderr)
    for warning in caught:
        if issubclass(warning.category, EmptyStoreWarning):
            print(f"phasewatch: note: store {store} holds no runs (give --store DIR, or set $PHASEWATCH_STORE)", file=sys.stderr)
        else:  # not ours: shown as it would have been
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    console.print(_table(frame))


def _probes_table() -> Table:
    """One row per declared metric, grouped by probe: what the probe needs, the metric's meaning,
    which way is better, and the events a rise or fall of it is named."""
    table = Table("probe", "needs", "metric", "meaning", "higher is", "events")
    table.columns[2].no_wrap = True
    for name, probe in sorted(PROBES.items()):
        needs = probe.needs
        wants = [
            "a task" if needs.task is True else f"a {needs.task.__name__}" if needs.task else "",
            "probe data" if needs.probe_data else "",
            "labels" if needs.labels else "",
            "attributes" if needs.attributes else "",
            *needs.capabilities,
        ]
        for k, metric in enumerate(probe.metrics):
            events = [f"rise: {metric.rise}" if metric.rise else "", f"fall: {metric.fall}" if metric.fall else ""]
            table.add_row(
                name if k == 0 else "",
                ", ".join(w for w in wants if w) if k == 0 else "",
                metric.name,
                metric.meaning,
                "" if metric.higher == "neither" else metric.higher,
                ", ".join(e for e in events if e),
            )
    return table


def main(argv: list[str] | None = None) -> int:
    console = Console()
    try:
        args = build_parser().parse_args(argv)
        root = store_root(args.store)
        if args.command == "experiments" and args.name:
            _experiment(args.name)
        elif args.command == "experiments":
            rows = [(name, configuration.load_preset(name).get("description", "")) for name in configuration.experiment_names()]
            table = Table("experiment", "what it shows")
            for row in rows:
                table.add_row(*row)
            console.print(table)
        elif args.command == "probes":
            console.print(_probes_table())
        elif args.command == "run":
            _run(args, console)
        elif args.command == "analyze":
            _analyze(args, console)
        elif args.command == "sweep":
            _sweep(args, root, console)
        elif args.command == "serve":
            serve_command(args, root)
        elif args.command in FIT_COMMANDS:
            FIT_COMMANDS[args.command](args, root)
        elif args.command == "runs":
            console.print(_table(list_runs(root)))
        elif args.command == "compare":
            _compare(args, root)
        elif args.command == "show":
            shown = Run.open(root, args.run)
            print_summary(shown, console)
            _differences(shown)
        elif args.command == "report":
            _report(Run.open(root, args.run), console)
        elif args.command == "sql":
            _sql(args.query, root, console, args.unrestricted)
    except UserError as error:
        print(f"phasewatch: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in STORAGE_ERRORS:
            raise
        print(f"phasewatch: error: cannot write {error.filename or 'the store'} ({error.strerror})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phasewatch: interrupted (resume with `phasewatch run --resume RUN`)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

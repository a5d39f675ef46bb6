"""``thbench``: run, list, report and score from the command line."""

from __future__ import annotations

import argparse
import logging
import pickle
import re
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from bench.adapter import ADAPTERS
from bench.context import FID_WEIGHTS_ENV, TaskContext, default_data_root
from bench.distributed import RankFailure, Shard, WorkGroup, work_group_from_environment
from bench.error_budget import FAILED_SAMPLES_EXIT_CODE, ErrorBudget
from bench.faults import FAULT_EXIT_CODE, HarnessFault
from bench.options import OptionError, parse_key_values
from bench.prediction_formats import FORMATS
from bench.registry import UnknownNameError
from bench.run_lock import LOCKED_EXIT_CODE, RunLockedError
from bench.runner import (
    DEFAULT_RESULTS_ROOT,
    IncompatibleTaskError,
    RunConfig,
    RunOutcome,
    SampleFailure,
    refuse_stray_task_args,
    run,
)
from bench.store import CorruptStoreError, StoreFormatError
from bench.summaries import TaskSummary
from bench.task import TASKS, DatasetError
from tasks.starter import STARTER_TASKS

logger = logging.getLogger("thbench")

BASELINES = ("ocr-pipeline", "glyph-render")
#: Runs of a model whose outputs are sampled, unless ``--seeds`` says otherwise.
DEFAULT_SAMPLED_SEEDS = 3
#: ``thbench convert WHAT ...`` → the module whose ``convert_main(argv)`` does it.
CONVERTERS = {
    "grounding": "tasks.grounding_convert",
    "llava": "model_adapters.llava_convert",
    "textharmony": "model_adapters.textharmony.convert",
}


#: A bug in thbench or a plugin, not something the user did (sysexits' EX_SOFTWARE).
INTERNAL_ERROR_EXIT_CODE = 70


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm and Kubernetes send before preemption), handled like Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done, 1 a significant regression (compare), 2 a usage or input error,
    3 failed samples beyond ``--max-errors`` (run, score), 4 a storage or harness fault,
    70 an internal error (a bug: ``-v`` shows the traceback to report), 75 the run folder is in
    use, 130 interrupted (SIGINT), 143 terminated (SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return args.handler(args)
    except RunLockedError as error:
        logger.error("%s", error, exc_info=args.verbose)
        return LOCKED_EXIT_CODE
    except (RankFailure, HarnessFault) as error:
        logger.error("%s", error, exc_info=args.verbose)
        return FAULT_EXIT_CODE
    except (UnknownNameError, IncompatibleTaskError, OptionError, DatasetError, OSError, SampleFailure, ValueError,
            ImportError, StoreFormatError, CorruptStoreError, pickle.UnpicklingError) as error:
        # Expected failures (a missing file, a wrong option, an optional package not installed)
        # end in one line that says what to do; -v adds the traceback.
        logger.error("%s", error, exc_info=args.verbose)
        return 2
    except Terminated:
        logger.error("terminated; finished batches are saved, the same command resumes the run")
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        logger.error("interrupted; finished batches are saved, the same command resumes the run")
        return 130
    except Exception as error:  # a bug: one line by default, the traceback for a report with -v
        logger.error("internal error: %s: %s (finished batches are saved; run again with -v for the traceback "
                     "to report)", type(error).__name__, error, exc_info=args.verbose)
        return INTERNAL_ERROR_EXIT_CODE
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thbench", description="Evaluate visual-text models: reading and writing text in images.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command")
    parser.set_defaults(handler=lambda _: _print_help(parser))

    run_parser = commands.add_parser("run", help="run tasks against a model (no arguments: the starter suite with both baselines)")
    run_parser.add_argument("--model", help="adapter name (thbench list models)")
    run_parser.add_argument("--model-args", "--model_args", default="", help="adapter options, k=v,k2=v2")
    run_parser.add_argument("--device", help="where the model runs (cpu, cuda, cuda:1, auto); same as --model-args device=...")
    run_parser.add_argument("--trust-remote-code", action="store_true",
                            help="let the model folder's own Python code run (anytext-diffusers); same as --model-args trust_remote_code=true")
    run_parser.add_argument("--allow-partial", action="store_true",
                            help="accept a checkpoint with missing or unexpected keys (textharmony); same as --model-args allow_partial=true")
    run_parser.add_argument("--tasks", default="", help="comma-separated task names (default: the starter suite)")
    run_parser.add_argument("--task-args", action="append", default=[], metavar="TASK:k=v,...",
                            help="options for one task, e.g. mario-eval:num_images=1 (repeatable)")
    run_parser.add_argument("--limit", type=_positive_int, help="only the first N samples of each task")
    run_parser.add_argument("--run-dir", type=Path, help="run folder (default: <results-dir>/<model>-<hash of options, checkpoint, seed>)")
    run_parser.add_argument("--results-dir", "--output_path", type=Path, default=DEFAULT_RESULTS_ROOT, help="where run folders go")
    run_parser.add_argument("--batch-size", "--batch_size", type=_positive_int, help="requests per model call (default: the adapter's)")
    run_parser.add_argument("--seed", type=int, default=0, help="run seed; each sample's seed derives from it")
    run_parser.add_argument("--seeds", type=_seed_list, metavar="N|S1,S2,...",
                            help="run once per seed (N: --seed and the N-1 after it) and print each metric's spread; "
                                 "default 3 for models whose outputs are sampled (e.g. textharmony generation=release,seeds=request), else 1")
    run_parser.add_argument("--fail-fast", action="store_true", help="stop at the first failing sample")
    _add_max_errors_argument(run_parser)
    run_parser.add_argument("--retry-errors", action="store_true", help="recompute samples that failed in an earlier run")
    run_parser.add_argument("--shard", type=_shard, metavar="I/N",
                            help="compute only part I of N of the samples (job arrays); a later run without --shard aggregates")
    run_parser.add_argument("--scoring-workers", type=_count, metavar="N",
                            help="processes that read generated images (OCR) while the model works on; 0 scores in this "
                                 "process (default: the cores the model processes leave free, at least 1)")
    _add_context_arguments(run_parser)
    run_parser.add_argument("--format", choices=["md", "csv", "latex", "html"], default="md", help="leaderboard format")
    run_parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    run_parser.set_defaults(handler=_run_command)

    list_parser = commands.add_parser("list", help="list tasks, models, metrics or OCR engines")
    list_parser.add_argument("what", nargs="?", choices=["tasks", "models", "metrics", "ocr"], default="tasks")
    list_parser.set_defaults(handler=_list_command)

    from bench.report.arguments import add_compare_arguments, add_report_arguments

    report_parser = commands.add_parser("report", help="leaderboard of finished runs")
    add_report_arguments(report_parser)
    report_parser.set_defaults(handler=_report_command)

    compare_parser = commands.add_parser("compare", help="paired regression check between two runs (exit 1 on a significant drop)")
    add_compare_arguments(compare_parser)
    compare_parser.set_defaults(handler=_compare_command)

    convert_parser = commands.add_parser(
        "convert", help="convert data or checkpoints: grounding (OCR annotations → JSONL), textharmony (checkpoint → safetensors)"
    )
    convert_parser.add_argument("what", choices=sorted(CONVERTERS))
    convert_parser.add_argument("arguments", nargs=argparse.REMAINDER, help="the converter's own arguments (see `thbench convert WHAT --help`)")
    convert_parser.set_defaults(handler=_convert_command)

    samples_parser = commands.add_parser("samples", help="one row per sample of a run's current records (JSON Lines or CSV)")
    samples_parser.add_argument("run_dir", type=Path, help="a run folder (results/runs/<run>)")
    samples_parser.add_argument("--task", required=True, help="task, or the label a report shows for one of its configurations")
    samples_parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    samples_parser.add_argument("--output", type=Path, help="write here instead of standard output")
    samples_parser.set_defaults(handler=_samples_command)

    score_parser = commands.add_parser("score", help="score predictions made elsewhere")
    score_parser.add_argument("--task", required=True)
    score_parser.add_argument("--predictions", type=Path, required=True,
                              help='a file or image folder; thbench JSONL is {"id": sample id, "output": text} or {"id", "images": [paths]} per line')
    score_parser.add_argument("--format", choices=FORMATS, default="auto",
                              help="how the predictions are written (default: recognised from the content): thbench, EvalAI "
                                   "(question_id/answer), RRC (questionId/answer), ChartQA, lmms-eval --log_samples, VLMEvalKit "
                                   ".xlsx/.tsv, or the image folders of AnyText's and MARIO-Eval's scripts")
    score_parser.add_argument("--task-args", default="", help="task options, k=v,...")
    score_parser.add_argument("--output", type=Path, help="write the scored records (JSONL) here")
    _add_max_errors_argument(score_parser)
    _add_context_arguments(score_parser)
    score_parser.set_defaults(handler=_score_command)
    return parser


def _add_max_errors_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-errors", type=_error_budget, default=ErrorBudget(), metavar="K|P%",
                        help=f"failed samples allowed per task before the command exits {FAILED_SAMPLES_EXIT_CODE}: "
                             "a count or a percentage of the task's samples (default 0)")


def _error_budget(text: str) -> ErrorBudget:
    try:
        return ErrorBudget.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _over_budget(summaries: Sequence[tuple[str, TaskSummary]], budget: ErrorBudget) -> int:
    """Exit status for failed samples: 0 within the budget, else ``FAILED_SAMPLES_EXIT_CODE``
    with one line per task over it."""
    over = [(label, s) for label, s in summaries if s.errors and not budget.allows(s.errors, s.n)]
    for label, summary in over:
        logger.error("%s: %d of %d samples failed, more than --max-errors allows (%s)", label, summary.errors,
                     summary.n, budget.describe())
    return FAILED_SAMPLES_EXIT_CODE if over else 0


def _print_failures(prefix: str, summary: TaskSummary) -> None:
    for example in summary.first_errors:
        print(f"{prefix}: failed: {example.line()}")


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seed_list(text: str) -> list[int] | int:
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a count or a comma-separated list of seeds, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"needs at least one seed, got {text}")
    return count


def _run_seeds(args: argparse.Namespace, model: str) -> list[int]:
    """The seeds to run: as asked, else three when the model's outputs are sampled."""
    if isinstance(args.seeds, list):
        return args.seeds
    count = args.seeds
    if count is None:
        sampled = args.model is not None and ADAPTERS.get(model).from_args(_model_args(args)).outputs_vary_with_seed()
        count = DEFAULT_SAMPLED_SEEDS if sampled else 1
        if sampled:
            logger.info("%s samples its outputs: running seeds %s and reporting their spread (--seeds 1 for one run)",
                        model, ", ".join(str(args.seed + i) for i in range(count)))
    return [args.seed + i for i in range(count)]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _add_context_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help=f"benchmark data root (default: $THBENCH_DATA or {default_data_root()})")
    parser.add_argument("--prompt-profile", help="prompt profile for every task (default: the model's)")
    parser.add_argument("--ocr-engine", default="rapidocr", help="OCR engine that reads generated images")
    parser.add_argument("--ocr-args", default="", help="OCR engine options, k=v,...")
    parser.add_argument("--fid-weights", type=Path, help="FID Inception weights (pt_inception-2015-12-05-6726825d.pth)")
    parser.add_argument("--clip-model", type=Path, help="local CLIP folder for CLIPScore")
    parser.add_argument("--metrics-device", help="torch device for FID and CLIPScore features (default: the model's, else cpu)")
    parser.add_argument("--image-format", choices=["png", "jpeg"], default="png", help="how generated images are stored and scored")


def _context(args: argparse.Namespace) -> TaskContext:
    import os

    from bench.ocr.base import OCR_ENGINES

    OCR_ENGINES.get(args.ocr_engine)  # a misspelt engine fails now, not when the first image is read
    fid = args.fid_weights or (Path(os.environ[FID_WEIGHTS_ENV]) if os.environ.get(FID_WEIGHTS_ENV) else None)
    return TaskContext(
        data_root=args.data_dir or default_data_root(),
        prompt_profile=args.prompt_profile,
        ocr_engine=args.ocr_engine,
        ocr_options=parse_key_values(args.ocr_args),
        fid_weights=fid,
        clip_model=args.clip_model,
        image_format=args.image_format,
        metrics_device=args.metrics_device,
    )


def _task_args(values: Sequence[str]) -> dict[str, dict[str, str]]:
    parsed: dict[str, dict[str, str]] = {}
    for value in values:
        task, sep, options = value.partition(":")
        if not sep:
            raise OptionError(f"--task-args expects TASK:k=v,..., got {value!r}")
        parsed.setdefault(task.strip(), {}).update(parse_key_values(options))
    return parsed


def _model_args(args: argparse.Namespace) -> dict[str, str]:
    """``--model-args`` plus the opt-in flags, which are model options under their own names
    so that they land in the manifest like any other option."""
    model_args = parse_key_values(args.model_args)
    if args.device:
        if model_args.get("device", args.device) != args.device:
            raise OptionError(f"--device {args.device} and --model-args device={model_args['device']} disagree; give one")
        model_args["device"] = args.device
    if args.trust_remote_code:
        model_args["trust_remote_code"] = "true"
    if args.allow_partial:
        model_args["allow_partial"] = "true"
    return model_args


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    print("\nStart with `thbench run`: both built-in baselines on the starter suite.")
    return 0


def _run_command(args: argparse.Namespace) -> int:
    requested = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not args.model and (args.run_dir or args.model_args or args.trust_remote_code or args.allow_partial or args.device):
        raise OptionError("--run-dir and model options need --model: without it both baselines run, each in its own folder")
    models = [args.model] if args.model else list(BASELINES)
    refuse_stray_task_args(_task_args(args.task_args), requested or STARTER_TASKS)
    group = work_group_from_environment()
    try:
        outcomes = _run_models(args, requested, models, group)
    finally:
        group.close()
    if outcomes and group.is_main and args.shard is None:
        from bench.report.leaderboard import leaderboard
        from bench.report.leaderboard_output import render
        from bench.report.runs import load_run

        frame = leaderboard([load_run(o.run_dir) for o in outcomes])
        print()
        print(render(frame, args.format), end="")
    if not group.is_main or args.shard is not None:
        return 0
    summaries = [(f"{o.model} · {t.label or t.task}", TaskSummary.from_json(t.summary)) for o in outcomes for t in o.tasks]
    return _over_budget(summaries, args.max_errors)


def _run_models(args: argparse.Namespace, requested: list[str], models: list[str], group: WorkGroup) -> list[RunOutcome]:
    outcomes: list[RunOutcome] = []
    for model in models:
        tasks = requested or list(STARTER_TASKS)
        if not args.model or not requested:
            # No explicit pairing: keep the tasks this model can do.
            supported = ADAPTERS.get(model).supported_kinds
            tasks = [t for t in tasks if TASKS.get(t).kind in supported]
            if not tasks:
                logger.warning("model %s can do none of the tasks %s; skipped", model, ", ".join(requested))
                continue
        seed_outcomes = []
        seeds = _run_seeds(args, model)
        for seed in seeds:
            outcome = _run_one(args, model, tasks, seed, group, several=len(seeds) > 1)
            outcomes.append(outcome)
            seed_outcomes.append((seed, outcome))
        if len(seed_outcomes) > 1 and group.is_main and args.shard is None:
            _print_seed_spread(model, seed_outcomes)
    return outcomes


def _run_one(args: argparse.Namespace, model: str, tasks: list[str], seed: int, group: WorkGroup, several: bool) -> RunOutcome:
    run_dir = args.run_dir if args.model else None
    if run_dir is not None and several:
        run_dir = run_dir.with_name(f"{run_dir.name}-seed{seed}")  # one folder per seed, as default folders are
    config = RunConfig(
        model=model,
        tasks=tasks,
        model_args=_model_args(args) if args.model else {},
        task_args={task: options for task, options in _task_args(args.task_args).items() if task in tasks},
        context=_context(args),
        limit=args.limit,
        run_dir=run_dir,
        results_root=args.results_dir,
        batch_size=args.batch_size,
        seed=seed,
        fail_fast=args.fail_fast,
        retry_errors=args.retry_errors,
        progress=not args.no_progress and group.is_main,
        command=" ".join(["thbench", *sys.argv[1:]]),
        shard=args.shard,
        scoring_workers=args.scoring_workers,
    )
    started = time.perf_counter()
    outcome = run(config, group)
    if args.shard is not None:
        _print_shard_summary(outcome, args.shard, time.perf_counter() - started)
    elif group.is_main:
        _print_summary(outcome, time.perf_counter() - started)
    return outcome


def _print_seed_spread(model: str, seed_outcomes: list[tuple[int, RunOutcome]]) -> None:
    """Each task's headline over the seeds: one run's number is one draw of sampled outputs."""
    seeds = ", ".join(str(seed) for seed, _ in seed_outcomes)
    by_label: dict[str, list[float]] = {}
    names: dict[str, str] = {}
    for _, outcome in seed_outcomes:
        for task in outcome.tasks:
            summary = TaskSummary.from_json(task.summary)
            if summary.headline is not None:
                by_label.setdefault(task.label or task.task, []).append(summary.headline.display_value)
                names[task.label or task.task] = str(summary.primary)
    for label, values in by_label.items():
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        deviation = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        print(f"{model} · {label}: {names[label]} over seeds {seeds}: mean {mean:.2f}, sd {deviation:.2f}, "
              f"range {min(values):.2f}–{max(values):.2f}")


def _print_shard_summary(outcome: RunOutcome, shard: Shard, seconds: float) -> None:
    for task in outcome.tasks:
        print(f"{outcome.model} · {task.task}: shard {shard} computed={task.computed} rescored={task.rescored}")
    print(f"{outcome.model}: {outcome.run_dir}  ({seconds:.1f} s); run the same command without --shard to aggregate")


def _print_summary(outcome: RunOutcome, seconds: float) -> None:
    for task in outcome.tasks:
        summary = TaskSummary.from_json(task.summary)
        value = f"{summary.headline.display_value:.1f}" if summary.headline is not None else "n/a"
        refused = f" refused={summary.refused}" if summary.refused else ""
        print(
            f"{outcome.model} · {task.label or task.task}: {summary.primary} {value}  n={summary.n} errors={summary.errors}{refused}  "
            f"computed={task.computed} reused={task.reused} rescored={task.rescored}"
        )
        _print_failures(f"{outcome.model} · {task.label or task.task}", summary)
        for name, metric in summary.set_metrics.items():
            if metric.value is None:
                print(f"{outcome.model} · {task.task}: {metric.reason or f'{name} not computed'}")
            else:
                print(f"{outcome.model} · {task.task}: {name} {metric.value:.3f}")
    print(f"{outcome.model}: {outcome.run_dir}  ({seconds:.1f} s)")


def _list_command(args: argparse.Namespace) -> int:
    if args.what == "tasks":
        for name, task in TASKS.items():
            print(f"{name:22s} {task.kind.value:15s} {task.description}")
    elif args.what == "models":
        for name, adapter in ADAPTERS.items():
            kinds = ", ".join(sorted(k.value for k in adapter.supported_kinds))
            print(f"{name:22s} {kinds:30s} {_summary_line(adapter)}")
    elif args.what == "metrics":
        import bench.metrics as metrics

        for name in metrics.__all__:
            doc = (getattr(metrics, name).__doc__ or "").strip().splitlines()
            print(f"{name:22s} {doc[0] if doc else ''}")
    else:
        from bench.ocr.base import OCR_ENGINES

        for name, engine in OCR_ENGINES.items():
            print(f"{name:22s} {_summary_line(engine)}")
    return 0


def _summary_line(plugin: type) -> str:
    """First line of the class docstring, else of its module's (where plugins explain
    themselves), without the module's leading "``name``: " and its reST quoting."""
    doc = plugin.__doc__ or sys.modules[plugin.__module__].__doc__ or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    line = re.sub(r"^(``[\w-]+``(?: and ``[\w-]+``)?: )", "", line)
    return line.replace("``", "")


def _convert_command(args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module(CONVERTERS[args.what]).convert_main(args.arguments)


def _report_command(args: argparse.Namespace) -> int:
    from bench.report.commands import report_command

    return report_command(args)


def _compare_command(args: argparse.Namespace) -> int:
    from bench.report.commands import compare_command

    return compare_command(args)


def _samples_command(args: argparse.Namespace) -> int:
    from bench.report.sample_rows import write_sample_rows

    if args.output is None:
        write_sample_rows(args.run_dir, args.task, args.format, sys.stdout)
        return 0
    with args.output.open("w", encoding="utf-8", newline="") as stream:
        write_sample_rows(args.run_dir, args.task, args.format, stream)
    return 0


def _score_command(args: argparse.Namespace) -> int:
    from bench.offline_scoring import score_predictions

    task = TASKS.get(args.task).from_args(parse_key_values(args.task_args), _context(args))
    scored = score_predictions(task, args.predictions, args.output, args.format)
    summary = TaskSummary.from_json(scored)
    for metric, entry in summary.shown_metrics().items():
        low, high = entry.display_interval
        print(f"{args.task} {metric}: {entry.display_value:.2f} (95% CI {low:.2f}–{high:.2f})")
    print(f"n={summary.n} errors={summary.errors} missing={scored.get('missing', 0)}")
    _print_failures(args.task, summary)
    return _over_budget([(args.task, summary)], args.max_errors)


if __name__ == "__main__":
    sys.exit(main())

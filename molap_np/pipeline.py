"""The whole MoLaP study as one resumable command: ``molap-np run``.

Stages, in the order of the paper:

1. strategies      MoLaP (pre-training included) in the paper's CCA design
                   and in the best design, the no-pre-training control,
                   separate networks, DNI and the joint network, each trained
                   on the nine tasks and scored on shared held-out batches;
2. perturbations   robustness sweeps of every trained strategy;
3. generalisation  leave-one-out (and leave-two-out) folds;
4. report          ``results.json``, ``report.md`` and the figures.

Each stage is split into independent units (one strategy, one fold...) that
run in worker processes and store their results in ``DIR/units/`` as they
finish (see ``runner``). Run again with the same arguments, the command
continues from the first unfinished unit; with other arguments against the
same folder, it refuses rather than mix results.
"""

import copy
import os
import time

from . import __version__
from .files import load_network, read_json, save_network, write_json
from .runner import Progress, Unit, run_units, unit_rng
from .tasks import TASK_NAMES, make_batch

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"


class RunFolderError(RuntimeError):
    """The output folder holds another run, or cannot be written."""


# Every number of a preset; ``run.json`` stores the chosen one whole, so that
# a resumed run can prove it continues the same study.
PRESETS = {
    "tiny": {
        "tasks": ["DelayPro", "MemoryPro", "MemoryDm1"],
        "test_trials": 64,
        "designs": {"molap": "response-cca", "molap_cca": "cca"},
        "pretrain": {
            "N": 30,
            "module_sizes": [10, 10, 10],
            "steps": 20,
            "corpus_trials": 16,
            "eval_trials": 16,
            "eval_every": 10,
        },
        "task_learning": {
            "steps": 30,
            "batch_size": 16,
            "eval_every": 15,
            "eval_batch_size": 32,
        },
        "separate": {
            "N": 24,
            "steps": 30,
            "batch_size": 16,
            "eval_every": 15,
            "eval_batch_size": 32,
        },
        "dni": {
            "N": 24,
            "steps": 20,
            "batch_size": 16,
            "eval_every": 10,
            "eval_batch_size": 32,
            "moment_batch_size": 32,
        },
        "joint": {
            "N": 24,
            "steps": 60,
            "batch_size": 16,
            "eval_every": 30,
            "eval_batch_size": 32,
        },
        "perturbations": {"draws": 2, "points": 2, "test_trials": 32},
        "generalisation": {"folds": ["MemoryDm1"], "modes": ["leave_one_out"]},
        "workers": 2,
    },
    "quick": {
        # Batches of 32 trials. Task learning on frozen weights (MoLaP, the
        # control, the generalisation folds): 1,000 steps per task at lr 3e-2
        # with input weights drawn at 0.3 times MOLAP.md's scale, the best
        # settings of the README's screen. The whole-network strategies keep
        # their quick defaults of 500 steps per task: a step costs them about
        # twice as much (N = 200, every weight trained), so each strategy
        # gets about the same time per task.
        "tasks": list(TASK_NAMES),
        "test_trials": 500,
        "designs": {"molap": "response-cca", "molap_cca": "cca"},
        "pretrain": {"steps": 200},
        "task_learning": {
            "steps": 1000,
            "batch_size": 32,
            "lr": 3e-2,
            "input_scale": 0.3,
            "eval_every": 100,
        },
        "separate": {"steps": 500, "batch_size": 32},
        "dni": {"steps": 500, "batch_size": 32},
        "joint": {"steps": 4500, "batch_size": 32},
        # 64 test trials per task (the paper preset: 500) rather than 128:
        # the sweep then costs about half as much, which keeps the quick
        # study within 15 minutes on a busy 2-core machine.
        "perturbations": {"draws": 10, "points": None, "test_trials": 64},
        "generalisation": {"folds": list(TASK_NAMES), "modes": ["leave_one_out"]},
        "workers": 2,
    },
    "paper": {
        # The settings of MOLAP.md. Scaling the quick run's unit times by
        # steps x batch size: about 28 CPU hours, some 15 hours on 2 cores.
        "tasks": list(TASK_NAMES),
        "test_trials": 1000,
        "designs": {"molap": "response-cca", "molap_cca": "cca"},
        "pretrain": {"steps": 2000, "batch_size": 200, "lr": 5e-3},
        "task_learning": {"steps": 4500, "batch_size": 500, "lr": 1e-3},
        "separate": {"steps": 4500, "batch_size": 500, "lr": 1e-3},
        "dni": {"steps": 4500, "batch_size": 500, "lr": 1e-3},
        "joint": {"steps": 20000, "batch_size": 500, "lr": 1e-3},
        "perturbations": {"draws": 20, "points": None, "test_trials": 500},
        "generalisation": {
            "folds": list(TASK_NAMES),
            "modes": ["leave_one_out", "leave_two_out"],
        },
        "workers": 2,
    },
}
PRESET_NAMES = tuple(PRESETS)


def get_preset(name):
    """A deep copy of preset ``name``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESET_NAMES)}")
    return copy.deepcopy(PRESETS[name])


# ---------------------------------------------------------------- the folder


def prepare_folder(out_dir, preset, seed, settings):
    """Create or reopen ``out_dir`` for this run; refuse a different one."""
    record = {
        "molap_np": __version__,
        "preset": preset,
        "seed": seed,
        "settings": settings,
    }
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as err:
        msg = f"cannot create the output folder {out_dir}: {err}"
        raise RunFolderError(msg) from err
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise RunFolderError(f"the output folder {out_dir} is not writable")
    path = os.path.join(out_dir, RUN_FILE)
    if os.path.exists(path):
        previous = read_json(path)
        if previous != record:
            raise RunFolderError(
                f"{out_dir} holds a run with preset {previous.get('preset')!r} and "
                f"seed {previous.get('seed')!r} (or other settings or version); "
                f"this one is preset {preset!r}, seed {seed}. Resume it with the "
                f"same arguments, or choose another --out."
            )
        return True
    write_json(path, record)
    return False


# ---------------------------------------------------------- shared test data


def test_batches(seed, tasks, trials):
    """The held-out batches every strategy is scored on, one per task."""
    rng = unit_rng(seed, "test-batches")
    return {task: make_batch(task, trials, rng) for task in TASK_NAMES if task in tasks}


def network_path(out_dir, strategy, task):
    return os.path.join(out_dir, "networks", strategy, f"{task}.npz")


def load_strategy(out_dir, strategy, record):
    """A trained strategy back from its network files and unit record."""
    from .strategies.base import StrategyResult, TaskNetwork

    networks = {}
    for task in record["tasks"]:
        params, meta = load_network(network_path(out_dir, strategy, task))
        networks[task] = TaskNetwork(
            task, params, tuple(meta["module_sizes"]), meta.get("rule")
        )
    return StrategyResult(
        strategy,
        networks,
        record["trainable_params"],
        record["updates"],
        record["train_seconds"],
    )


# ------------------------------------------------------------------- units
# Module-level functions, so that worker processes can import them.


def strategy_unit(out_dir, rng, strategy, kind, config, tasks, seed, test_trials):
    """Train one strategy on ``tasks``, store its networks, score it."""
    from .strategies import make_config, train_strategy

    result = train_strategy(kind, tasks, rng, make_config(kind, config), False)
    for task, network in result.networks.items():
        path = network_path(out_dir, strategy, task)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_network(
            path,
            network.params,
            network.module_sizes,
            task=task,
            seed=seed,
            strategy=strategy,
            rule=network.rule,
        )
    scores = result.evaluate(test_batches(seed, tasks, test_trials))
    return {
        "strategy": strategy,
        "kind": kind,
        "trainable_params": int(result.trainable_params),
        "updates": int(result.updates),
        "train_seconds": float(result.seconds),
        "tasks": scores,
        "curves": result.curves,
        "extra": result.extra,
    }


def perturbation_unit(out_dir, rng, strategy, record, settings, tasks, seed):
    """Robustness sweep of one trained strategy."""
    from .perturbations import PERTURBATIONS, module_silencing, robustness_sweep

    result = load_strategy(out_dir, strategy, record)
    batches = test_batches(seed, tasks, settings["test_trials"])
    sizes = {
        name: list(p.sizes[: settings["points"]])  # None: the whole default grid
        for name, p in PERTURBATIONS.items()
    }
    sweep = robustness_sweep(
        {strategy: result}, batches, sizes=sizes, draws=settings["draws"], rng=rng
    )
    modules = module_silencing({strategy: result}, batches)
    return {"strategy": strategy, "sweep": sweep, "module_silencing": modules}


def generalisation_unit(out_dir, rng, held_out, mode, settings):
    """One leave-out fold: pre-train without ``held_out``, then learn it."""
    from .generalisation import run_fold
    from .primitives import PretrainConfig
    from .task_learning import TaskLearningConfig

    batches = test_batches(settings["seed"], settings["tasks"], settings["test_trials"])
    return run_fold(
        held_out,
        rng,
        test_batch=batches[held_out],
        design=settings["design"],
        pretrain_config=_dataclass_from(PretrainConfig, settings["pretrain"]),
        task_config=_dataclass_from(TaskLearningConfig, settings["task_learning"]),
        mode=mode,
        test_trials=settings["test_trials"],
        corpus=tuple(settings["tasks"]),
    )


def _dataclass_from(config_class, entries):
    """``config_class`` with the preset's entries (lists become tuples)."""
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in entries.items()}
    return config_class(**values)


# ---------------------------------------------------------------- the plan

STRATEGY_KINDS = ("molap", "no_pretraining", "separate", "dni", "joint")
# Rough cost of each unit relative to one MoLaP training, for the estimate
# of the time left.
UNIT_COSTS = {"strategy": 1.0, "perturb": 0.25, "generalise": 0.3}


def strategy_units(settings, seed):
    """One unit per strategy: MoLaP once per design, then the others."""
    tasks = settings["tasks"]
    common = {"tasks": tasks, "seed": seed, "test_trials": settings["test_trials"]}
    learning = {
        "pretrain": settings["pretrain"],
        "task_learning": settings["task_learning"],
    }
    units = [
        Unit(
            f"strategy-{name}",
            strategy_unit,
            {
                "strategy": name,
                "kind": "molap",
                **common,
                "config": {"design": design, **learning},
            },
        )
        for name, design in settings["designs"].items()
    ]
    units.append(
        Unit(
            "strategy-no_pretraining",
            strategy_unit,
            {
                "strategy": "no_pretraining",
                "kind": "no_pretraining",
                **common,
                "config": learning,
            },
        )
    )
    for kind in ("separate", "dni", "joint"):
        units.append(
            Unit(
                f"strategy-{kind}",
                strategy_unit,
                {"strategy": kind, "kind": kind, **common, "config": settings[kind]},
            )
        )
    return units


def perturbation_units(settings, seed, records):
    return [
        Unit(
            f"perturb-{record['strategy']}",
            perturbation_unit,
            {
                "strategy": record["strategy"],
                "record": {
                    k: record[k]
                    for k in ("tasks", "trainable_params", "updates", "train_seconds")
                },
                "settings": settings["perturbations"],
                "tasks": settings["tasks"],
                "seed": seed,
            },
            UNIT_COSTS["perturb"],
        )
        for record in records
    ]


def generalisation_units(settings, seed):
    gen = settings["generalisation"]
    # Folds are scored on the strategies' test batches, like the references.
    fold_settings = {
        "seed": seed,
        "design": settings["designs"]["molap"],
        "pretrain": settings["pretrain"],
        "task_learning": settings["task_learning"],
        "tasks": settings["tasks"],
        "test_trials": settings["test_trials"],
    }
    return [
        Unit(
            f"generalise-{mode}-{task}",
            generalisation_unit,
            {"held_out": task, "mode": mode, "settings": fold_settings},
            UNIT_COSTS["generalise"],
        )
        for mode in gen["modes"]
        for task in gen["folds"]
    ]


def generalisation_summary(out_dir, settings, seed, records, folds):
    """Folds next to the strategies that learned the same tasks in full.

    MoLaP on all nine tasks, the control and separate networks were trained
    with the same step budget in the strategies stage; their networks are
    scored on the same test batches as the folds.
    """
    from .generalisation import reference_from_strategy, summarise

    batches = test_batches(seed, settings["tasks"], settings["test_trials"])
    references = []
    for record in records:
        if record["strategy"] in ("molap", "no_pretraining", "separate"):
            result = load_strategy(out_dir, record["strategy"], record)
            result.curves = record["curves"]
            references += reference_from_strategy(record["strategy"], result, batches)
    return summarise(folds, references)


def run_pipeline(
    preset="quick", out_dir="molap_results", seed=0, workers=None, verbose=True
):
    """Run (or resume) the whole study; return the results dict.

    Parameters
    ----------
    preset : {"tiny", "quick", "paper"}
    out_dir : str
        Output folder: ``run.json``, ``units/``, ``networks/``, ``figures/``,
        ``results.json`` and ``report.md``.
    seed : int
    workers : int, optional
        Worker processes; the preset's (2) by default. Results do not depend
        on it.
    """
    settings = get_preset(preset)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    resumed = prepare_folder(out_dir, preset, seed, settings)
    workers = settings["workers"] if workers is None else workers
    start = time.perf_counter()
    say = print if verbose else (lambda *a, **k: None)
    say(
        f"molap-np run: preset {preset}, seed {seed}, output {out_dir}"
        + (" (resuming)" if resumed else "")
    )

    units = strategy_units(settings, seed)
    gen_units = generalisation_units(settings, seed)
    total = len(units) * (1 + UNIT_COSTS["perturb"]) + sum(u.cost for u in gen_units)
    progress = Progress(total, verbose)

    timing = {}  # wall seconds of each stage in this invocation
    tic = time.perf_counter()
    trained = run_units(out_dir, seed, units, "strategies", workers, progress)
    timing["strategies"] = time.perf_counter() - tic
    records = [trained[u.name] for u in units]

    tic = time.perf_counter()
    perturbed = run_units(
        out_dir,
        seed,
        perturbation_units(settings, seed, records),
        "perturbations",
        workers,
        progress,
    )
    timing["perturbations"] = time.perf_counter() - tic

    tic = time.perf_counter()
    folds = run_units(out_dir, seed, gen_units, "generalisation", workers, progress)
    timing["generalisation"] = time.perf_counter() - tic

    from .report import write_report

    generalisation = generalisation_summary(
        out_dir, settings, seed, records, list(folds.values())
    )
    stages = {
        "strategies": records,
        "perturbations": list(perturbed.values()),
        "generalisation": list(folds.values()),
    }
    timing = {
        "stages": {
            stage: {
                "wall": round(timing[stage], 1),
                "units": len(done),
                "unit_seconds": round(sum(u["seconds"] for u in done), 1),
            }
            for stage, done in stages.items()
        },
        "resumed": resumed,
        "units": {
            u["unit"]: round(u["seconds"], 1) for done in stages.values() for u in done
        },
    }
    results = write_report(
        out_dir,
        preset,
        seed,
        settings,
        records,
        list(perturbed.values()),
        generalisation,
        timing,
    )
    say(
        f"molap-np run: finished in {time.perf_counter() - start:.0f} s; "
        f"see {os.path.join(out_dir, REPORT_FILE)}"
    )
    return results


def add_command(subparsers):
    sub = subparsers.add_parser(
        "run",
        help="run the whole study (resumable) and write its report",
        description=(
            "Run the MoLaP study: every strategy on the nine tasks, "
            "perturbation sweeps, generalisation folds, then report.md, "
            "results.json and figures in --out. Interrupted, the same "
            "command resumes from the last finished unit."
        ),
    )
    sub.add_argument(
        "--preset",
        default="quick",
        choices=PRESET_NAMES,
        help="quick: the full study at reduced size (the default; 13 min on "
        "2 idle cores); paper: the paper's settings (estimated 15 h on 2 "
        "cores); tiny: a smoke test (under a minute)",
    )
    sub.add_argument(
        "--out", default="molap_results", help="output folder (default molap_results)"
    )
    sub.add_argument("--seed", type=int, default=0, help="seed of the study")
    sub.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default 2); results do not depend on it",
    )
    sub.add_argument("--quiet", action="store_true", help="no progress lines")
    sub.set_defaults(func=_cmd_run)


def _cmd_run(args):
    try:
        run_pipeline(args.preset, args.out, args.seed, args.workers, not args.quiet)
    except KeyboardInterrupt:
        print("\nmolap-np run: interrupted; run the same command again to resume")
        raise SystemExit(130) from None
    except RunFolderError as err:
        raise ValueError(str(err)) from err

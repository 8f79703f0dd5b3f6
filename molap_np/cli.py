"""The ``molap-np`` command.

    molap-np tasks                     list the nine tasks and their sizes
    molap-np plot-trial TASK           plot one trial of a task to a PNG
    molap-np bench                     time one training step against the floor
    molap-np run                       the whole study (see ``pipeline``)

Each subcommand's ``--help`` explains its options.
"""

import argparse
import importlib
import sys

# Modules that add their own subcommand through ``add_command(subparsers)``,
# so that a stage of the study brings its command along in its own file.
COMMAND_MODULES = (
    "molap_np.bench",
    "molap_np.primitives",
    "molap_np.task_learning",
    "molap_np.strategies",
    "molap_np.perturbations",
    "molap_np.generalisation",
    "molap_np.reference",
    "molap_np.pipeline",
)


def _cmd_tasks(args):
    from .tasks import TASK_NAMES, TASK_SIZES

    print(f"{'task':<15}{'n_in':>5}{'n_out':>6}")
    for task in TASK_NAMES:
        n_in, n_out = TASK_SIZES[task]
        print(f"{task:<15}{n_in:>5}{n_out:>6}")


def _cmd_plot_trial(args):
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from .files import atomic_write
    from .plotting import plot_trial
    from .tasks import make_batch

    batch = make_batch(args.task, 1, np.random.default_rng(args.seed))
    fig = plot_trial(batch)
    out = args.out or f"{args.task}.png"
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=120))
    print(f"wrote {out}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="molap-np",
        description="Modular latent primitives (MoLaP): tasks, training, study.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sub = commands.add_parser("tasks", help="list the nine tasks")
    sub.set_defaults(func=_cmd_tasks)

    sub = commands.add_parser("plot-trial", help="plot one trial of a task")
    sub.add_argument("task", help="a task name, as listed by 'molap-np tasks'")
    sub.add_argument("--seed", type=int, default=0, help="seed of the trial")
    sub.add_argument("--out", help="PNG file to write (default TASK.png)")
    sub.set_defaults(func=_cmd_plot_trial)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        if hasattr(module, "add_command"):
            module.add_command(commands)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"molap-np: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

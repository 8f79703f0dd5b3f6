"""Damage to trained networks, and how each strategy's skills degrade.

Every strategy's network follows equations (1) and (2) of ``molap_np.rnn``::

    h[t+1] = tanh(W_in x[t] + J h[t] + b)        y[t] = W_out h[t+1] + b_out

A perturbation acts after training, and nothing is retrained. Five act on the
recurrent matrix [J b], the (N, N + 1) array of J with b as its last column
(MOLAP.md section 7):

    silence_weights       a fraction p of all N (N + 1) entries set to 0
    lesion_units          a fraction p of the units removed (see below)
    weight_noise          Gaussian noise on every entry, std = size * std([J b])
    silence_in_module_k   a fraction p of module k's diagonal block of J set
                          to 0; p = 1 silences the whole module
    silence_between       a fraction p of the blocks between modules set to
                          0; p = 1 silences every inter-module weight

Exactly round(p * count) entries (or units) are hit. Two more, beyond the
paper, leave the weights alone and disturb the trial instead:

    input_noise           extra Gaussian noise of std = size on every input
                          channel on the steps that already carry the task's
                          own noise (10 .. 109)
    state_noise           Gaussian noise of std = size added to h[t+1] after
                          every step (``state_noise`` of ``rnn.forward``)

Lesioning unit i zeroes column i of J and of W_out. Its activity h_i reaches
the rest of the network only through J[:, i] h_i and the outputs only through
W_out[:, i] h_i, so with those columns at zero the network computes exactly
what it would if h_i were clamped to 0 in the recurrence and in the readout.
(The unit's own row is left alone: it still computes a value nobody reads.)

Relative weight noise makes networks of different size and weight scale
comparable: a noise of size 0.5 is half the spread of the weights it hits.

Networks without modules (one module of N units) have no blocks to silence.
For them the module perturbations act on the same kind of index blocks, N
split into 3 near-equal consecutive groups, as a control: the blocks mean
nothing to such a network, so any difference from MoLaP's result is the
effect of its modules.

Damage is to the network, not to a task: when several task networks share
[J b] (MoLaP's J and b, DNI's or the joint network's whole network), the
sweep draws the damage once per draw and applies it to every one of them.
Separate networks are damaged independently; input and state noise, which
belong to the trial, are drawn per task.

Randomness is drawn once per draw and reused across sizes ("common random
numbers"): the silenced entries at p = 0.2 include those at p = 0.1, and the
noise at size 0.5 is the noise at size 0.25 doubled. Each curve is then the
same damage growing, and its wiggles are not resampling noise.
"""

import time
import zlib
from dataclasses import dataclass

import numpy as np

from .metrics import evaluate
from .rnn import check_params, forward, init_params, module_mask
from .strategies.base import StrategyResult, TaskNetwork
from .tasks import N_BLANK, TASK_NAMES, TASK_SIZES, make_batch

CRITERIA = ("paper_accuracy", "strict_accuracy")
CONTROL_MODULES = 3


# ----------------------------------------------------------------------------
# Running a task network on possibly damaged weights


def run_network(network, inputs, params=None, state_noise=None):
    """Task outputs of a TaskNetwork, optionally damaged or noisy.

    Parameters
    ----------
    network : TaskNetwork
    inputs : ndarray, shape (T, B, n_in)
        The task's inputs (padded to the network's width here).
    params : dict of ndarray, optional
        Weights replacing the network's own (a damaged copy, say).
    state_noise : ndarray, shape (T, B, N), optional
        Added to h[t+1] after each step.

    Returns
    -------
    ndarray, shape (T, B, n_out)
    """
    params = network.params if params is None else params
    _, outputs = forward(params, network.network_inputs(inputs), state_noise)
    return outputs[:, :, : TASK_SIZES[network.task][1]]


# ----------------------------------------------------------------------------
# Which entries of [J b] a perturbation may hit


def perturbation_modules(module_sizes, N):
    """Module sizes the module perturbations act on.

    A network's own modules, or for a network of a single module the control
    split of N into 3 near-equal consecutive blocks (200 -> 67, 67, 66).
    """
    module_sizes = (N,) if module_sizes is None else tuple(int(m) for m in module_sizes)
    if sum(module_sizes) != N:
        raise ValueError(f"module_sizes {list(module_sizes)} do not sum to N = {N}")
    if len(module_sizes) > 1:
        return module_sizes
    return tuple(len(a) for a in np.array_split(np.arange(N), CONTROL_MODULES))


def _entries(mask):
    """Flat indices into [J b] (N, N + 1) of an (N, N) mask of J."""
    with_b = np.concatenate([mask, np.zeros((mask.shape[0], 1), bool)], axis=1)
    return np.flatnonzero(with_b)


def all_entries(N, module_sizes=None):
    """Flat indices of every entry of [J b]: all of J and all of b."""
    return np.arange(N * (N + 1))


def module_entries(N, module_sizes=None, module=0):
    """Flat indices into [J b] of module ``module``'s diagonal block of J."""
    blocks = perturbation_modules(module_sizes, N)
    if not 0 <= module < len(blocks):
        raise ValueError(
            f"module {module} does not exist; this network's blocks are "
            f"{list(blocks)} (module indices 0 .. {len(blocks) - 1})"
        )
    return _entries(module_mask(blocks, module))


def between_entries(N, module_sizes=None):
    """Flat indices into [J b] of every weight of J joining two modules."""
    blocks = perturbation_modules(module_sizes, N)
    within = np.zeros((N, N), dtype=bool)
    for k in range(len(blocks)):
        within |= module_mask(blocks, k)
    return _entries(~within)


def hit_count(p, total):
    """How many of ``total`` items a fraction p hits: round(p * total)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a fraction must lie in [0, 1], got {p}")
    return int(round(p * total))


# ----------------------------------------------------------------------------
# Weight perturbations, each in two steps: draw the randomness, then apply a
# size. The public functions below do both.


def _split(params, Jb):
    """A copy of ``params`` with J and b taken from [J b]."""
    damaged = dict(params)
    damaged["J"], damaged["b"] = Jb[:, :-1], Jb[:, -1]
    return damaged


def _joined(params):
    """[J b], shape (N, N + 1), a new array."""
    return np.concatenate([params["J"], params["b"][:, None]], axis=1)


def _silence(params, p, order, entries):
    """Zero the first round(p * len(entries)) of ``entries[order]``."""
    Jb = _joined(params)
    hit = entries[order[: hit_count(p, len(entries))]]
    Jb.flat[hit] = 0.0
    return _split(params, Jb)


def _lesion(params, p, order):
    """Zero the columns of J and W_out of the first round(p N) units."""
    units = order[: hit_count(p, len(order))]
    damaged = dict(params)
    damaged["J"] = params["J"].copy()
    damaged["W_out"] = params["W_out"].copy()
    damaged["J"][:, units] = 0.0
    damaged["W_out"][:, units] = 0.0
    return damaged


def _noise(params, size, z):
    """Add size * std([J b]) * z to [J b]; z is (N, N + 1) standard normal."""
    if size < 0:
        raise ValueError(f"a noise size must be >= 0, got {size}")
    Jb = _joined(params)
    return _split(params, Jb + size * Jb.std() * z)


def silence_weights(params, p, rng, module_sizes=None):
    """Silence a random fraction p of all entries of [J b].

    Parameters
    ----------
    params : dict of ndarray
        Trained weights; not modified.
    p : float in [0, 1]
        round(p * N (N + 1)) entries, drawn without replacement, become 0.
    rng : numpy.random.Generator
    module_sizes : sequence of int, optional
        Unused; accepted so that every perturbation has one signature.

    Returns
    -------
    dict of ndarray
        New weights; J and b are new arrays, the others are shared.
    """
    N = check_params(params)[0]
    entries = all_entries(N)
    return _silence(params, p, rng.permutation(len(entries)), entries)


def lesion_units(params, p, rng, module_sizes=None):
    """Lesion a random fraction p of the units: round(p N) of them.

    Their columns of J and W_out become 0, which removes their activity from
    the recurrence and the readout (see the module docstring).
    """
    N = check_params(params)[0]
    return _lesion(params, p, rng.permutation(N))


def weight_noise(params, size, rng, module_sizes=None):
    """Add Gaussian noise of std ``size * std([J b])`` to every entry of [J b]."""
    N = check_params(params)[0]
    return _noise(params, size, rng.standard_normal((N, N + 1)))


def silence_within_module(params, p, rng, module_sizes=None, module=0):
    """Silence a random fraction p of module ``module``'s block of J.

    ``module`` counts from 0. Without modules, the blocks are the control
    split of ``perturbation_modules``.
    """
    N = check_params(params)[0]
    entries = module_entries(N, module_sizes, module)
    return _silence(params, p, rng.permutation(len(entries)), entries)


def silence_between_fraction(params, p, rng, module_sizes=None):
    """Silence a random fraction p of the weights of J between modules."""
    N = check_params(params)[0]
    entries = between_entries(N, module_sizes)
    return _silence(params, p, rng.permutation(len(entries)), entries)


def silence_module(params, module, module_sizes=None):
    """Silence module ``module``'s whole diagonal block of J (no randomness)."""
    N = check_params(params)[0]
    entries = module_entries(N, module_sizes, module)
    return _silence(params, 1.0, np.arange(len(entries)), entries)


def silence_between_modules(params, module_sizes=None):
    """Silence every weight of J between two modules (no randomness)."""
    N = check_params(params)[0]
    entries = between_entries(N, module_sizes)
    return _silence(params, 1.0, np.arange(len(entries)), entries)


# ----------------------------------------------------------------------------
# The registry: one object per perturbation, with one interface for all


@dataclass(frozen=True)
class Perturbation:
    """A perturbation with its default sizes.

    Applying one takes two steps, so that a draw can be shared: ``draw``
    takes the randomness from a generator, and ``run`` gives a network's
    outputs under the perturbation at a given size for that draw. The same
    draw at a larger size is the same damage, grown.

    Attributes
    ----------
    name : str
    target : {"weights", "inputs", "state"}
        What is disturbed: the recurrent weights [J b] (damage to the
        network, shared by every task that runs on it), or each trial's
        inputs or hidden state (noise, independent per task).
    sizes : tuple of float
        Default grid, starting at 0 (the intact network).
    unit : str
        What a size means, for axis labels.
    exact_sizes : tuple of float
        Sizes at which the result does not depend on the draw.
    """

    name: str
    target: str
    sizes: tuple
    unit: str
    exact_sizes: tuple = (0.0,)

    def draw(self, network, inputs_shape, rng):
        """The random part of the perturbation, for ``network``.

        ``inputs_shape`` is the task inputs' (T, B, n_in); weight
        perturbations ignore it.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no draw")

    def run(self, network, inputs, size, draw):
        """Task outputs (T, B, n_out) of ``network`` under this perturbation."""
        raise NotImplementedError(f"{type(self).__name__} defines no run")

    def apply(self, network, size, rng):
        """The perturbed network as a function ``inputs -> outputs``.

        Weight damage is drawn now and kept; noise is drawn anew on every
        call.
        """
        if self.target == "weights":
            draw = self.draw(network, None, rng)
            return lambda inputs: self.run(network, inputs, size, draw)
        return lambda inputs: self.run(
            network, inputs, size, self.draw(network, inputs.shape, rng)
        )


@dataclass(frozen=True)
class Silencing(Perturbation):
    """Set a fraction p of some entries of [J b] to zero.

    ``entries(N, module_sizes)`` gives the flat indices into [J b] that may
    be hit; the draw is the order in which they are.
    """

    entries: object = all_entries

    def _entries(self, network):
        return self.entries(network.params["J"].shape[0], network.module_sizes)

    def draw(self, network, inputs_shape, rng):
        return rng.permutation(len(self._entries(network)))

    def damage(self, network, size, draw):
        """New weights of ``network`` with the first hits of ``draw`` at 0."""
        return _silence(network.params, size, draw, self._entries(network))

    def run(self, network, inputs, size, draw):
        return run_network(network, inputs, self.damage(network, size, draw))


@dataclass(frozen=True)
class Lesion(Perturbation):
    """Remove a fraction p of the units (zero their columns of J, W_out)."""

    def draw(self, network, inputs_shape, rng):
        return rng.permutation(network.params["J"].shape[0])

    def damage(self, network, size, draw):
        return _lesion(network.params, size, draw)

    def run(self, network, inputs, size, draw):
        return run_network(network, inputs, self.damage(network, size, draw))


@dataclass(frozen=True)
class WeightNoise(Perturbation):
    """Add noise of std size * std([J b]) to every entry of [J b]."""

    def draw(self, network, inputs_shape, rng):
        N = network.params["J"].shape[0]
        return rng.standard_normal((N, N + 1))

    def damage(self, network, size, draw):
        return _noise(network.params, size, draw)

    def run(self, network, inputs, size, draw):
        return run_network(network, inputs, self.damage(network, size, draw))


@dataclass(frozen=True)
class InputNoise(Perturbation):
    """Extra input noise of std ``size`` on the steps after the blank ones."""

    def draw(self, network, inputs_shape, rng):
        z = rng.standard_normal(inputs_shape)  # (T, B, n_in)
        z[:N_BLANK] = 0.0
        return z

    def run(self, network, inputs, size, draw):
        if size < 0:
            raise ValueError(f"a noise size must be >= 0, got {size}")
        return run_network(network, inputs + size * draw)


@dataclass(frozen=True)
class StateNoise(Perturbation):
    """Noise of std ``size`` added to the hidden state after every step."""

    def draw(self, network, inputs_shape, rng):
        T, B = inputs_shape[:2]
        N = network.params["J"].shape[0]
        # float32 draws take half the time of float64 ones, and a (T, B, N)
        # draw costs more than a forward pass; the noise needs no more bits.
        return rng.standard_normal((T, B, N), dtype=np.float32)

    def run(self, network, inputs, size, draw):
        if size < 0:
            raise ValueError(f"a noise size must be >= 0, got {size}")
        return run_network(network, inputs, state_noise=size * draw)


def _module_entries(module):
    def entries(N, module_sizes):
        return module_entries(N, module_sizes, module)

    return entries


FRACTION = "fraction of"
# Trained networks are fragile: a few per cent of silenced weights already
# costs much of the paper accuracy, so the grids are fine at the low end.
FRACTIONS = (0.0, 0.1, 0.3, 1.0)
_REGISTERED = (
    Silencing(
        "silence_weights",
        "weights",
        (0.0, 0.02, 0.05, 0.1, 0.2),
        f"{FRACTION} [J b] entries silenced",
        (0.0, 1.0),
    ),
    Lesion(
        "lesion_units",
        "weights",
        (0.0, 0.02, 0.05, 0.1, 0.2),
        f"{FRACTION} units lesioned",
        (0.0, 1.0),
    ),
    WeightNoise(
        "weight_noise",
        "weights",
        (0.0, 0.05, 0.1, 0.2, 0.5),
        "noise std / std of [J b]",
    ),
    *(
        Silencing(
            f"silence_in_module_{k + 1}",
            "weights",
            FRACTIONS,
            f"{FRACTION} module {k + 1}'s block silenced",
            (0.0, 1.0),
            _module_entries(k),
        )
        for k in range(CONTROL_MODULES)
    ),
    Silencing(
        "silence_between",
        "weights",
        FRACTIONS,
        f"{FRACTION} inter-module weights silenced",
        (0.0, 1.0),
        between_entries,
    ),
    InputNoise("input_noise", "inputs", (0.0, 0.1, 0.2, 0.4, 0.8), "input noise std"),
    StateNoise("state_noise", "state", (0.0, 0.02, 0.05, 0.1, 0.2), "state noise std"),
)
PERTURBATIONS = {p.name: p for p in _REGISTERED}
PERTURBATION_NAMES = tuple(PERTURBATIONS)


def get_perturbation(name):
    """The registered perturbation called ``name``, or a clear error."""
    if name not in PERTURBATIONS:
        raise ValueError(
            f"unknown perturbation {name!r}; valid: {', '.join(PERTURBATION_NAMES)}"
        )
    return PERTURBATIONS[name]


# ----------------------------------------------------------------------------
# Robustness curves


def shared_groups(networks):
    """Tasks whose networks share the same recurrent weights [J b].

    MoLaP's task networks share J and b; DNI's and the joint network's share
    everything; separate networks share nothing. Damage to [J b] is drawn
    once per group, so that every task of a shared network sees the same
    damaged network.

    Parameters
    ----------
    networks : dict of str to TaskNetwork

    Returns
    -------
    list of list of str
        Groups of task names, in the order of ``networks``.
    """
    groups = []
    for task, net in networks.items():
        for group in groups:
            first = networks[group[0]]
            if (
                np.array_equal(first.params["J"], net.params["J"])
                and np.array_equal(first.params["b"], net.params["b"])
                and tuple(first.module_sizes) == tuple(net.module_sizes)
            ):
                group.append(task)
                break
        else:
            groups.append([task])
    return groups


def _key(text):
    """A stable integer for a name, to key random streams."""
    return zlib.crc32(text.encode())


def _check_grids(names, sizes):
    """The size grid of each perturbation: the default, or from ``sizes``."""
    sizes = sizes or {}
    unknown = sorted(set(sizes) - set(names))
    if unknown:
        raise ValueError(f"sizes given for perturbations not swept: {unknown}")
    grids = {}
    for name in names:
        grid = tuple(float(s) for s in sizes.get(name, PERTURBATIONS[name].sizes))
        if len(grid) < 2 or grid[0] != 0.0 or np.any(np.diff(grid) <= 0):
            raise ValueError(
                f"sizes of {name} must start at 0 (the intact network) and "
                f"increase, with at least two values; got {list(grid)}"
            )
        grids[name] = grid
    return grids


def _sweep_one(perturbation, grid, networks, groups, batches, intact, draws, key):
    """Accuracies ``{task: {criterion: (sizes, draws)}}`` of one strategy."""
    scores = {t: {c: np.zeros((len(grid), draws)) for c in CRITERIA} for t in networks}
    for d in range(draws):
        for group in groups:
            shared = None
            if perturbation.target == "weights":
                stream = np.random.default_rng([*key, _key(group[0]), d])
                shared = perturbation.draw(networks[group[0]], None, stream)

            for task in group:
                net, batch = networks[task], batches[task]
                draw = shared
                if draw is None:
                    stream = np.random.default_rng([*key, _key(task), d])
                    draw = perturbation.draw(net, batch.inputs.shape, stream)

                for i, size in enumerate(grid):
                    if size == 0.0:
                        result = intact[task]
                    elif d > 0 and size in perturbation.exact_sizes:
                        result = {c: scores[task][c][i, 0] for c in CRITERIA}
                    else:
                        outputs = perturbation.run(net, batch.inputs, size, draw)
                        result = evaluate(outputs, batch)
                    for c in CRITERIA:
                        scores[task][c][i, d] = result[c]
    return scores


def _curve(scores, grid):
    """JSON-ready mean and std over draws, per task and over tasks."""
    per_task = {
        task: {
            c: {"mean": s[c].mean(axis=1).tolist(), "std": s[c].std(axis=1).tolist()}
            for c in CRITERIA
        }
        for task, s in scores.items()
    }
    over_tasks = {}
    for c in CRITERIA:
        task_mean = np.mean([s[c] for s in scores.values()], axis=0)  # (sizes, draws)
        over_tasks[c] = {
            "mean": task_mean.mean(axis=1).tolist(),
            "std": task_mean.std(axis=1).tolist(),
            "draws": task_mean.T.tolist(),  # (draws, sizes), for the summary
        }
    return {"sizes": list(grid), "tasks": per_task, "mean": over_tasks}


def robustness_sweep(
    results,
    test_batches,
    perturbations=None,
    sizes=None,
    draws=10,
    rng=None,
    verbose=False,
):
    """Accuracy against perturbation size for every strategy and task.

    Each perturbation is drawn ``draws`` times at random and grown over its
    size grid (common random numbers, see the module docstring); the test
    batches stay fixed. Damage to [J b] is drawn once per network and draw:
    tasks that share recurrent weights (``shared_groups``) all see the same
    damaged network, while separate networks are damaged independently.
    Input and state noise are drawn per task.

    Parameters
    ----------
    results : dict of str to StrategyResult
        Trained strategies by name; each ``.networks`` maps a task to its
        TaskNetwork.
    test_batches : dict of str to TaskBatch
        One fixed batch per task; tasks a strategy lacks are skipped.
    perturbations : sequence of str, optional
        Names from ``PERTURBATIONS``; all of them by default.
    sizes : dict of str to sequence of float, optional
        Grids replacing the defaults; each starts at 0 and increases.
    draws : int
        Random draws per perturbation (the study uses at least 10).
    rng : numpy.random.Generator
        Seeds every draw; the same seed gives the same numbers.
    verbose : bool
        One line per strategy and perturbation.

    Returns
    -------
    dict, JSON-ready
        ``settings``; ``groups`` (tasks sharing [J b], per strategy);
        ``curves[strategy][perturbation]`` with ``sizes``, per task
        ``tasks[task][criterion]`` and over tasks ``mean[criterion]``, each
        ``{"mean": [...], "std": [...]}`` over draws; ``silent`` (the
        accuracy of a silent network per task, the floor of the summary);
        ``summary`` from ``summarise``; ``seconds``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng)}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive int, got {draws!r}")
    names = list(PERTURBATION_NAMES if perturbations is None else perturbations)
    for name in names:
        get_perturbation(name)
    grids = _check_grids(names, sizes)
    seed = int(rng.integers(2**63))
    start = time.perf_counter()

    curves, groups_of = {}, {}
    for strategy, result in results.items():
        networks = {t: result.networks[t] for t in test_batches if t in result.networks}
        if not networks:
            raise ValueError(f"strategy {strategy!r} has no network for any test task")
        groups = shared_groups(networks)
        groups_of[strategy] = groups
        intact = {
            t: evaluate(run_network(net, test_batches[t].inputs), test_batches[t])
            for t, net in networks.items()
        }
        curves[strategy] = {}
        for name in names:
            tic = time.perf_counter()
            key = (seed, _key(strategy), _key(name))
            scores = _sweep_one(
                PERTURBATIONS[name],
                grids[name],
                networks,
                groups,
                test_batches,
                intact,
                draws,
                key,
            )
            curves[strategy][name] = _curve(scores, grids[name])
            if verbose:
                line = f"{strategy:<15}{name:<20}{time.perf_counter() - tic:6.1f} s"
                print(line)

    silent = silent_accuracy(test_batches)
    settings = {
        "draws": draws,
        "seed": seed,
        "batch_sizes": {t: b.batch_size for t, b in test_batches.items()},
        "sizes": {name: list(grid) for name, grid in grids.items()},
    }
    return {
        "settings": settings,
        "groups": groups_of,
        "curves": curves,
        "silent": silent,
        "summary": summarise(curves, silent),
        "seconds": time.perf_counter() - start,
    }


# ----------------------------------------------------------------------------
# One number per strategy and perturbation


# Smallest intact margin over the floor for which a retained fraction is
# given. Below it the ratio divides test-batch noise by test-batch noise
# (on 64 trials per task one trial is 0.016 of a task's accuracy) and can
# reach -100 for a strategy that barely learned its tasks.
MIN_MARGIN = 0.05


def retained(accuracy, floor=0.0, min_margin=MIN_MARGIN):
    """Fraction of the intact margin over ``floor`` left at each size.

    ``(accuracy - floor) / (accuracy[0] - floor)``: 1 at size 0, 0 where the
    network is no better than the floor (below 0 if worse). None if the
    intact accuracy is less than ``min_margin`` above the floor.
    """
    accuracy = np.asarray(accuracy, float)
    margin = accuracy[0] - floor
    if margin < min_margin:
        return None
    return (accuracy - floor) / margin


def normalised_area(sizes, accuracy, floor=0.0):
    """Mean of ``retained`` over the size range (trapezoid rule).

    1 means no loss at any size. With ``floor = 0`` it is the area under
    accuracy / intact accuracy; with the accuracy of a silent network as the
    floor, 0 means no better than silence on average over the grid.
    """
    sizes = np.asarray(sizes, float)
    kept = retained(accuracy, floor)
    if kept is None:
        return None
    area = np.sum(np.diff(sizes) * (kept[1:] + kept[:-1]) / 2)
    return float(area / (sizes[-1] - sizes[0]))


def half_size(sizes, accuracy, floor=0.0):
    """Smallest size at which half the intact margin over ``floor`` is lost.

    With ``floor = 0``: where accuracy falls to half its intact value.
    Linear interpolation between grid points; None if the accuracy stays
    above the half-way mark within the grid.
    """
    sizes = np.asarray(sizes, float)
    kept = retained(accuracy, floor)
    if kept is None:
        return None
    for i in range(1, len(sizes)):
        if kept[i] <= 0.5:
            drop = kept[i - 1] - kept[i]
            fraction = (kept[i - 1] - 0.5) / drop if drop > 0 else 0.0
            return float(sizes[i - 1] + fraction * (sizes[i] - sizes[i - 1]))
    return None


def silent_accuracy(test_batches):
    """Both accuracies of a silent network (all outputs 0), per task.

    The floor of the summaries: under the paper criterion a silent network
    already scores about 0.37 (direction tasks) to 0.53 (value tasks).
    """
    return {
        task: evaluate(np.zeros(batch.targets.shape), batch)
        for task, batch in test_batches.items()
    }


def summarise(curves, silent, tasks=None):
    """``{strategy: {perturbation: {criterion: {...}}}}`` at a glance.

    On the mean over tasks, each entry holds ``intact`` (accuracy at size
    0), ``silent`` (the floor: a silent network's accuracy on the same
    tasks), ``area`` (``normalised_area`` above that floor), ``area_std``
    (the std of the same area over the draws) and ``half_size`` (where half
    the margin over the floor is lost).

    Parameters
    ----------
    curves : dict
        ``robustness_sweep(...)["curves"]``.
    silent : dict
        ``silent_accuracy(test_batches)``.
    tasks : sequence of str, optional
        Average over these tasks only (say, those every strategy learned);
        all swept tasks by default. The sweep keeps per-draw curves of the
        mean over all tasks only, so ``area_std`` is None for a subset, as
        it is when any draw's area is undefined.
    """
    summary = {}
    for strategy, by_name in curves.items():
        summary[strategy] = {}
        for name, curve in by_name.items():
            summary[strategy][name] = {
                c: _summary_entry(curve, c, silent, tasks) for c in CRITERIA
            }
    return summary


def _summary_entry(curve, criterion, silent, tasks):
    sizes = curve["sizes"]
    if tasks is None:
        tasks = list(curve["tasks"])
        mean = curve["mean"][criterion]["mean"]
        draws = curve["mean"][criterion]["draws"]
    else:
        missing = sorted(set(tasks) - set(curve["tasks"]))
        if missing:
            raise ValueError(f"tasks {missing} were not swept")
        per_task = [curve["tasks"][t][criterion]["mean"] for t in tasks]
        mean, draws = np.mean(per_task, axis=0).tolist(), []
    floor = float(np.mean([silent[t][criterion] for t in tasks]))
    areas = [normalised_area(sizes, d, floor) for d in draws]
    defined = areas and None not in areas
    return {
        "intact": mean[0],
        "silent": floor,
        "area": normalised_area(sizes, mean, floor),
        "area_std": float(np.std(areas)) if defined else None,
        "half_size": half_size(sizes, mean, floor),
    }


def learned_tasks(curves, threshold=0.8, criterion="strict_accuracy"):
    """The strategies to compare and the tasks every one of them learned.

    A strategy cannot lose a skill it never had: a task at the silent floor
    adds nothing to the margin, so a summary over all tasks rests on the
    tasks each strategy did learn, which differ between strategies. This
    picks a common set. A strategy that learned no task to ``threshold``
    (intact ``criterion`` accuracy) is left out of the choice; the tasks are
    those every remaining strategy learned.

    Parameters
    ----------
    curves : dict
        ``robustness_sweep(...)["curves"]``; every curve starts at size 0,
        the intact network.

    Returns
    -------
    dict
        ``strategies`` and ``tasks`` (lists, possibly empty), ``left_out``
        (strategies that learned no task), ``threshold`` and ``criterion``.
    """

    def intact(strategy, task):
        curve = next(iter(curves[strategy].values()))
        return curve["tasks"][task][criterion]["mean"][0]

    strategies, left_out = [], []
    for strategy, by_name in curves.items():
        tasks = next(iter(by_name.values()))["tasks"]
        learned = any(intact(strategy, t) >= threshold for t in tasks)
        (strategies if learned else left_out).append(strategy)
    tasks = []
    if strategies:
        swept = next(iter(curves[strategies[0]].values()))["tasks"]
        tasks = [t for t in swept if all(intact(s, t) >= threshold for s in strategies)]
    return {
        "strategies": strategies,
        "tasks": tasks,
        "left_out": left_out,
        "threshold": threshold,
        "criterion": criterion,
    }


def summary_table(sweep, criterion="paper_accuracy", tasks=None):
    """The summary as text: one row per perturbation, one column per strategy.

    Each cell is ``area +- area_std (half_size)``, with ``-`` where less
    than half the margin over a silent network was lost within the grid, or
    where a strategy's intact accuracy is less than ``MIN_MARGIN`` above a
    silent network's.
    ``tasks`` restricts the average to some tasks (see ``summarise``).
    """
    summary = sweep["summary"]
    if tasks is not None:
        summary = summarise(sweep["curves"], sweep["silent"], tasks)
    strategies = list(summary)
    names = list(summary[strategies[0]])
    lines = [f"{'':<21}" + "".join(f"{s[:19]:>21}" for s in strategies)]
    for name in names:
        cells = [_summary_cell(summary[s][name][criterion]) for s in strategies]
        lines.append(f"{name:<21}" + "".join(f"{cell:>21}" for cell in cells))
    return "\n".join(lines)


def _summary_cell(entry):
    if entry["area"] is None:
        return "-"
    spread = "" if entry["area_std"] is None else f"+-{entry['area_std']:.2f}"
    half = "-" if entry["half_size"] is None else f"{entry['half_size']:.2g}"
    return f"{entry['area']:.2f}{spread} ({half})"


# ----------------------------------------------------------------------------
# Which module each task relies on


def module_silencing(results, test_batches):
    """Accuracy with each whole module, or all inter-module weights, silenced.

    No randomness: silencing a whole block is exact. Networks without modules
    get the control blocks of ``perturbation_modules``.

    Returns
    -------
    dict, JSON-ready
        Per strategy: ``blocks`` (column labels: ``module 1`` ..,
        ``between``), ``module_sizes`` (the blocks), ``control`` (True if the
        blocks are the control split), ``intact[task][criterion]`` and
        ``silenced[task][criterion]``, a list with one accuracy per block.
    """
    table = {}
    for strategy, result in results.items():
        networks = {t: result.networks[t] for t in test_batches if t in result.networks}
        if not networks:
            raise ValueError(f"strategy {strategy!r} has no network for any test task")
        first = next(iter(networks.values()))
        N = first.params["J"].shape[0]
        blocks = perturbation_modules(first.module_sizes, N)
        labels = [f"module {k + 1}" for k in range(len(blocks))] + ["between"]

        intact, silenced = {}, {}
        for task, net in networks.items():
            batch = test_batches[task]
            intact[task] = evaluate(run_network(net, batch.inputs), batch)
            damaged = [
                silence_module(net.params, k, net.module_sizes)
                for k in range(len(blocks))
            ]
            damaged.append(silence_between_modules(net.params, net.module_sizes))
            scores = [
                evaluate(run_network(net, batch.inputs, p), batch) for p in damaged
            ]
            silenced[task] = {c: [s[c] for s in scores] for c in CRITERIA}
        table[strategy] = {
            "blocks": labels,
            "module_sizes": list(blocks),
            "control": len(first.module_sizes) == 1,
            "intact": intact,
            "silenced": silenced,
        }
    return table


# ----------------------------------------------------------------------------
# Figures


def _label(strategy):
    from .plotting import STRATEGY_LABELS

    return STRATEGY_LABELS.get(strategy, strategy)


def _color(strategy):
    from .plotting import STRATEGY_COLORS

    return STRATEGY_COLORS.get(strategy, "0.3")


def plot_robustness(sweep, criterion="paper_accuracy", perturbations=None, ncols=3):
    """One panel per perturbation, one line per strategy.

    Lines are the mean over tasks, shaded by one std over draws; the dashed
    grey line is a silent network's accuracy on the same tasks (drawn when
    ``sweep`` holds ``silent``).

    Parameters
    ----------
    sweep : dict
        What ``robustness_sweep`` returned.
    criterion : {"paper_accuracy", "strict_accuracy"}
    perturbations : sequence of str, optional
        Panels to draw; every swept perturbation by default.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; valid: {CRITERIA}")
    curves = sweep["curves"]
    names = list(perturbations or next(iter(curves.values())))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False
    )

    for ax, name in zip(axes.flat, names):
        for strategy, by_name in curves.items():
            curve = by_name[name]
            mean = np.array(curve["mean"][criterion]["mean"])
            std = np.array(curve["mean"][criterion]["std"])
            color = _color(strategy)
            ax.plot(
                curve["sizes"], mean, "o-", ms=3, color=color, label=_label(strategy)
            )
            ax.fill_between(
                curve["sizes"], mean - std, mean + std, color=color, alpha=0.2
            )
        if "silent" in sweep:
            tasks = next(iter(curves.values()))[name]["tasks"]
            floor = np.mean([sweep["silent"][t][criterion] for t in tasks])
            ax.axhline(floor, color="0.6", ls="--", lw=1)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(get_perturbation(name).unit, fontsize=8)
        ax.set_ylim(0, 1.02)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(criterion.replace("_", " "))
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.suptitle(
        f"{criterion.replace('_', ' ')} under growing damage, mean over tasks "
        "(shaded: std over draws; dashed: a silent network)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def plot_task_curves(sweep, perturbation, criterion="paper_accuracy"):
    """One panel per strategy, one line per task, for one perturbation."""
    import matplotlib.pyplot as plt

    curves = sweep["curves"]
    fig, axes = plt.subplots(
        1, len(curves), figsize=(3.4 * len(curves), 2.9), squeeze=False
    )
    for ax, (strategy, by_name) in zip(axes[0], curves.items()):
        curve = by_name[perturbation]
        for task, by_criterion in curve["tasks"].items():
            ax.plot(curve["sizes"], by_criterion[criterion]["mean"], ".-", label=task)
        ax.set_title(_label(strategy), fontsize=10, color=_color(strategy))
        ax.set_xlabel(get_perturbation(perturbation).unit, fontsize=8)
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel(criterion.replace("_", " "))
    axes[0, -1].legend(fontsize=6, frameon=False, loc="lower left")
    fig.tight_layout()
    return fig


def plot_module_silencing(table, criterion="paper_accuracy"):
    """Accuracy lost per task when a block is silenced, one matrix per strategy.

    Rows are tasks, columns the silenced block (each module, then every
    inter-module weight); a cell is intact minus silenced accuracy.

    Parameters
    ----------
    table : dict
        What ``module_silencing`` returned.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(table), figsize=(2.6 * len(table) + 1.2, 3.6), squeeze=False
    )
    for ax, (strategy, entry) in zip(axes[0], table.items()):
        tasks = list(entry["silenced"])
        drop = np.array(
            [
                [
                    entry["intact"][t][criterion] - s
                    for s in entry["silenced"][t][criterion]
                ]
                for t in tasks
            ]
        )
        image = ax.imshow(drop, cmap="Reds", vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(drop):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(entry["blocks"])), entry["blocks"], rotation=45)
        ax.set_yticks(range(len(tasks)), tasks if ax is axes[0, 0] else [])
        title = _label(strategy) + (" (control)" if entry["control"] else "")
        ax.set_title(title, fontsize=10, color=_color(strategy))
    fig.colorbar(image, ax=axes[0].tolist(), label=f"{criterion} lost", shrink=0.8)
    return fig


# ----------------------------------------------------------------------------
# Timing on stand-in networks, and the command line


def stand_in_results(rng, tasks=TASK_NAMES):
    """Untrained networks in the shapes of the five strategies.

    For timing the sweep only: MoLaP and the no pre-training control (N =
    150, one shared J), separate networks (N = 200 each), DNI (one N = 200
    network with 3 shared inputs and outputs) and the joint network (N =
    200, 3 shared inputs plus one rule input per task).
    """
    results = {}
    for name in ("molap", "no_pretraining"):
        shared = init_params(1, 150, 1, rng)
        networks = {}
        for task in tasks:
            n_in, n_out = TASK_SIZES[task]
            own = init_params(n_in, 150, n_out, rng)
            params = {**own, "J": shared["J"], "b": shared["b"]}
            networks[task] = TaskNetwork(task, params, (50, 50, 50))
        results[name] = StrategyResult(name, networks, 0, 0, 0.0)

    networks = {}
    for task in tasks:
        n_in, n_out = TASK_SIZES[task]
        networks[task] = TaskNetwork(task, init_params(n_in, 200, n_out, rng), (200,))
    results["separate"] = StrategyResult("separate", networks, 0, 0, 0.0)

    dni = init_params(3, 200, 3, rng, g=1.3)
    networks = {task: TaskNetwork(task, dni, (200,)) for task in tasks}
    results["dni"] = StrategyResult("dni", networks, 0, 0, 0.0)

    joint = init_params(3 + len(tasks), 200, 3, rng)
    networks = {
        task: TaskNetwork(task, joint, (200,), rule=3 + i)
        for i, task in enumerate(tasks)
    }
    results["joint"] = StrategyResult("joint", networks, 0, 0, 0.0)
    return results


def _cmd_perturb_timing(args):
    rng = np.random.default_rng(args.seed)
    results = stand_in_results(rng)
    batches = {t: make_batch(t, args.batch_size, rng) for t in TASK_NAMES}
    sweep = robustness_sweep(
        results, batches, draws=args.draws, rng=rng, verbose=args.verbose
    )
    runs = _count_runs(sweep)
    per_run = sweep["seconds"] / runs
    floor = _bare_forward_seconds(results, batches)
    print(
        f"default sweep: {len(results)} strategies x {len(TASK_NAMES)} tasks, "
        f"{len(sweep['curves']['molap'])} perturbations, {args.draws} draws, "
        f"batch {args.batch_size}: {runs} forward passes in "
        f"{sweep['seconds']:.0f} s ({1e3 * per_run:.1f} ms each)"
    )
    print(
        f"bare forward pass of the same networks: {1e3 * floor:.1f} ms; "
        f"sweep / bare = {per_run / floor:.2f}"
    )


def _bare_forward_seconds(results, batches, repeats=3):
    """Mean time of one intact forward pass, over every task network."""
    networks = [
        (net, batches[task])
        for result in results.values()
        for task, net in result.networks.items()
    ]
    start = time.perf_counter()
    for _ in range(repeats):
        for net, batch in networks:
            run_network(net, batch.inputs)
    return (time.perf_counter() - start) / (repeats * len(networks))


def _count_runs(sweep):
    """Forward passes a sweep made (one per task at size 0, none repeated)."""
    draws = sweep["settings"]["draws"]
    runs = 0
    for by_name in sweep["curves"].values():
        tasks = len(next(iter(by_name.values()))["tasks"])
        runs += tasks
        for name, curve in by_name.items():
            exact = PERTURBATIONS[name].exact_sizes
            for size in curve["sizes"][1:]:
                runs += tasks * (1 if size in exact else draws)
    return runs


def add_command(subparsers):
    """``molap-np perturb-timing``: time the default sweep on stand-ins."""
    sub = subparsers.add_parser(
        "perturb-timing",
        help="time the default robustness sweep on untrained stand-in networks",
    )
    sub.add_argument("--batch-size", type=int, default=128, help="test trials")
    sub.add_argument("--draws", type=int, default=10, help="draws per size")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--verbose", action="store_true", help="one line per step")
    sub.set_defaults(func=_cmd_perturb_timing)

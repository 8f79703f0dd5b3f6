"""Dynamical non-interference (DNI): one network learns the tasks in turn.

Duncker, Driscoll, Shenoy, Sahani and Sussillo (2020), "Organizing recurrent
network dynamics by task-computation to enable continual learning". One
network of N = 200 units (g = 1.3) with 3 shared inputs and 3 shared outputs
(narrower tasks padded with zeros, only their own outputs scored) learns the
tasks one after the other. Learning task k must not disturb tasks 1 .. k-1,
so its gradients are projected away from the activity those tasks used.

The recurrent weights act as one matrix W on the concatenated input z, the
readout as one matrix V on z_out::

    z[t] = [x[t]; h[t]; 1]       W = [W_in  J  b]       (N, n_in + N + 1)
    h[t+1] = tanh(W z[t])                                              (1)
    z_out[t] = [h[t+1]; 1]       V = [W_out  b_out]     (n_out, N + 1)
    y[t] = V z_out[t]                                                  (2)

After task j is learned, the second moments of its inputs are measured on a
batch of its trials, over all steps and trials (uncentred: the constant 1
carries the mean, so the biases are protected too)::

    S_j = mean z zᵀ             R_j = mean z_out z_outᵀ                (5)

While task k > 1 is learned, S and R are the averages of S_j and R_j over
the tasks seen so far (j < k), W and V are the weights at the start of task
k, and every change D of W (and E of V) that the optimiser proposes is
replaced by::

    P_in = (S / alpha + I)^-1      P_out = (W S Wᵀ / alpha + I)^-1      (6)
    Q_in = (R / alpha + I)^-1      Q_out = (V R Vᵀ / alpha + I)^-1      (7)
    D <- P_out D P_in              E <- Q_out E Q_in                    (8)

with alpha = 1e-3. An input direction u with S u = lambda u passes with gain
alpha / (alpha + lambda): whole for directions the old tasks never used,
almost nothing for those they used (lambda >> alpha). P_out does the same on
the side of the drive W z. Task 1 is learned unprojected.

Two choices. (a) The projection acts on Adam's step, not on the gradient
before Adam: with plain gradient descent the two are the same, but Adam
divides each weight's step by its own running gradient scale, which turns a
projected gradient into a step with large components along the protected
directions. Measured (N = 200, DelayPro then MemoryDm1, seed 0, 300 steps
each): the change of W along task 1's directions with lambda > 0.1 was
about 3x smaller than along directions with lambda < 1e-4 when the gradient
was projected, and about 100x smaller when the step was, as alpha / (alpha
+ lambda) promises (``project_on`` selects either; tutorial 04 shows both).
(b) The initial state h0 is shared by all tasks and trained during task 1
only: moving it later would shift every old task's trajectory, and no
projection covers it.
"""

import time
from dataclasses import dataclass

import numpy as np
from autograd import value_and_grad

from ..rnn import forward, init_params
from ..tasks import TASK_NAMES, make_batch
from ..training import (
    Adam,
    TrainingDiverged,
    TrainingLog,
    clip_by_norm,
    global_norm,
    learning_rate,
)
from .base import (
    StrategyResult,
    TaskNetwork,
    check_rng,
    check_tasks,
    curve_from_log,
    masked_mse_loss,
    to_network_batch,
)

N_SHARED_IN = 3
N_SHARED_OUT = 3
RECURRENT = ("W_in", "J", "b")
READOUT = ("W_out", "b_out")
PROJECT_ON = ("step", "gradient")


@dataclass
class DNIConfig:
    """Network, projection and training budget of DNI.

    ``alpha`` sets how strongly old tasks' activity is protected (smaller:
    stronger); ``project=False`` learns the tasks in turn unprojected (plain
    sequential training, the control); ``project_on`` is ``"step"`` (the
    projection acts on Adam's step) or ``"gradient"`` (on the gradient
    before Adam, to measure choice (a) of the module docstring);
    ``moment_batch_size`` trials of each task give its second moments.
    """

    N: int = 200
    g: float = 1.3
    alpha: float = 1e-3
    project: bool = True
    project_on: str = "step"
    steps: int = 500
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "cosine"
    clip: float | None = 1.0
    eval_every: int = 100
    eval_batch_size: int = 256
    moment_batch_size: int = 128


def input_moments(params, inputs):
    """Second moments (5) of the inputs of the recurrence and the readout.

    Parameters
    ----------
    params : dict of ndarray
        The network's weights.
    inputs : ndarray, shape (T, B, n_in)
        Network inputs (already padded to the network's width).

    Returns
    -------
    S : ndarray, shape (n_in + N + 1, n_in + N + 1)
        Mean of z zᵀ over steps and trials, z = [x[t]; h[t]; 1].
    R : ndarray, shape (N + 1, N + 1)
        Mean of z_out z_outᵀ, z_out = [h[t+1]; 1].
    """
    states, _ = forward(params, inputs)  # (T, B, N)
    T, B, N = states.shape
    start = np.broadcast_to(params["h0"], (1, B, N))
    previous = np.concatenate([start, states[:-1]])  # h[0] .. h[T-1]
    ones = np.ones((T, B, 1))

    z = np.concatenate([inputs, previous, ones], axis=2).reshape(T * B, -1)
    z_out = np.concatenate([states, ones], axis=2).reshape(T * B, -1)
    return z.T @ z / (T * B), z_out.T @ z_out / (T * B)


def projector(moment, alpha):
    """(moment / alpha + I)^-1 of a symmetric positive semi-definite matrix.

    Computed from the eigendecomposition: eigenvalue lambda of ``moment``
    becomes alpha / (alpha + lambda), the gain of that direction.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(moment)
    gains = alpha / (alpha + np.clip(eigenvalues, 0.0, None))
    return (eigenvectors * gains) @ eigenvectors.T


def recurrent_matrix(params):
    """W = [W_in J b], shape (N, n_in + N + 1)."""
    return np.concatenate([params["W_in"], params["J"], params["b"][:, None]], axis=1)


def readout_matrix(params):
    """V = [W_out b_out], shape (n_out, N + 1)."""
    return np.concatenate([params["W_out"], params["b_out"][:, None]], axis=1)


def make_projection(params, S, R, alpha):
    """The four projectors (6)-(7) for the weights ``params``.

    Returns
    -------
    dict of ndarray
        ``P_in`` (n, n), ``P_out`` (N, N), ``Q_in`` (N + 1, N + 1) and
        ``Q_out`` (n_out, n_out), with n = n_in + N + 1.
    """
    W, V = recurrent_matrix(params), readout_matrix(params)
    return {
        "P_in": projector(S, alpha),
        "P_out": projector(W @ S @ W.T, alpha),
        "Q_in": projector(R, alpha),
        "Q_out": projector(V @ R @ V.T, alpha),
    }


def project_grads(grads, projection):
    """Equation (8) on a gradient dict; other gradients pass unchanged."""
    n_in = grads["W_in"].shape[1]
    G = np.concatenate([grads["W_in"], grads["J"], grads["b"][:, None]], axis=1)
    G = projection["P_out"] @ G @ projection["P_in"]
    H = np.concatenate([grads["W_out"], grads["b_out"][:, None]], axis=1)
    H = projection["Q_out"] @ H @ projection["Q_in"]
    return {
        **grads,
        "W_in": G[:, :n_in],
        "J": G[:, n_in:-1],
        "b": G[:, -1],
        "W_out": H[:, :-1],
        "b_out": H[:, -1],
    }


def _accuracy_table(scores, tasks, key):
    """Rows: after learning task i; columns: task tested."""
    return [[row[task][key] for task in tasks] for row in scores]


def _progress(task, step, steps, loss, scores):
    line = f"{task:<14}step {step:>5}/{steps}  loss {loss:.4f}"
    for key, value in scores.items():
        line += f"  {key} {value:.3f}"
    return line


def _step(adam, grads, projection, config, rate):
    """The change of every trained weight for these raw gradients.

    Clipped, then Adam; the projection (8) acts on Adam's step, or on the
    gradient before Adam with ``config.project_on == "gradient"``.
    """
    on_gradient = config.project_on == "gradient"
    if projection is not None and on_gradient:
        grads = project_grads(grads, projection)
    if config.clip is not None:
        grads = clip_by_norm(grads, config.clip)
    deltas = adam.updates(grads, rate)
    if projection is not None and not on_gradient:
        deltas = project_grads(deltas, projection)
    return deltas


def learn_projected(network, rng, config, trainable, projection, test, verbose=True):
    """Train ``network`` on its task, each Adam step projected by (8).

    With ``projection=None`` (task 1, or ``config.project=False``) this is
    plain Adam training on the masked loss.

    Parameters
    ----------
    network : TaskNetwork
        Its task and starting weights (not modified).
    rng : numpy.random.Generator
        Draws the training batches.
    config : DNIConfig
    trainable : tuple of str
        Names of the trained weights.
    projection : dict of ndarray or None
        From ``make_projection``.
    test : TaskBatch
        Held-out batch of the task, for the learning curve.

    Returns
    -------
    params : dict of ndarray
    log : training.TrainingLog
    """
    task = network.task
    params = {k: np.array(v, dtype=float) for k, v in network.params.items()}
    adam = Adam({k: params[k] for k in trainable})
    loss_and_grad = value_and_grad(
        lambda arrays, batch: masked_mse_loss({**params, **arrays}, batch)
    )
    log = TrainingLog(np.zeros(config.steps))
    log.trainable_params = sum(params[k].size for k in trainable)
    start = time.perf_counter()

    for step in range(1, config.steps + 1):
        batch = make_batch(task, config.batch_size, rng)
        loss, grads = loss_and_grad(
            {k: params[k] for k in trainable}, to_network_batch(network, batch)
        )
        if not (np.isfinite(loss) and np.isfinite(global_norm(grads))):
            raise TrainingDiverged(
                f"DNI diverged on {task} at step {step}: the loss or its "
                f"gradient is not finite; lower lr (now {config.lr})",
                step,
            )
        rate = learning_rate(config.lr, step - 1, config.steps, config.schedule)
        for name, delta in _step(adam, grads, projection, config, rate).items():
            new = params[name] - delta
            log.updates += int(np.count_nonzero(new != params[name]))
            params[name] = new
        log.loss[step - 1] = loss

        if step % config.eval_every == 0 or step == config.steps:
            log.eval_steps.append(step)
            log.evals.append(network.evaluate(test, params))
            if verbose:
                print(_progress(task, step, config.steps, loss, log.evals[-1]))
    log.seconds = time.perf_counter() - start
    return params, log


def train_dni(tasks, rng, config=None, verbose=True):
    """Learn the tasks one after the other in one network, projected.

    Parameters
    ----------
    tasks : sequence of str
        Task names, learned in this order (the corpus order in the study).
    rng : numpy.random.Generator
        Draws the initial weights and a seed for the test batches, then,
        task by task, the training batches and a batch for the second
        moments. Each task's test batch comes from its own generator, so
        the weights after task k do not depend on the tasks that follow.
    config : DNIConfig, optional

    Returns
    -------
    StrategyResult
        Every task network holds the final shared weights. ``extra`` has
        ``accuracy_matrix``: per metric, row i gives every task's accuracy
        after task i was learned (entries right of the diagonal are tasks
        not learned yet: what the network does with them untrained).
    """
    tasks = check_tasks(tasks)
    check_rng(rng)
    config = config or DNIConfig()
    if config.project_on not in PROJECT_ON:
        raise ValueError(
            f"unknown project_on {config.project_on!r}; valid: {', '.join(PROJECT_ON)}"
        )
    start = time.perf_counter()
    params = init_params(N_SHARED_IN, config.N, N_SHARED_OUT, rng, g=config.g)
    sizes = (config.N,)
    test_seed = int(rng.integers(2**63))
    tests = {
        task: make_batch(
            task,
            config.eval_batch_size,
            np.random.default_rng([test_seed, TASK_NAMES.index(task)]),
        )
        for task in tasks
    }
    S_sum, R_sum = 0.0, 0.0
    curves, scores, updates = {}, [], 0

    for k, task in enumerate(tasks):
        trainable = RECURRENT + READOUT + (("h0",) if k == 0 else ())
        projection = None
        if k > 0 and config.project:
            projection = make_projection(params, S_sum / k, R_sum / k, config.alpha)
        network = TaskNetwork(task, params, sizes)
        params, log = learn_projected(
            network, rng, config, trainable, projection, tests[task], verbose
        )
        curves[task] = curve_from_log(log)
        updates += log.updates

        moment_batch = make_batch(task, config.moment_batch_size, rng)
        S, R = input_moments(params, network.network_inputs(moment_batch.inputs))
        S_sum, R_sum = S_sum + S, R_sum + R
        scores.append(
            {t: TaskNetwork(t, params, sizes).evaluate(tests[t]) for t in tasks}
        )

    networks = {task: TaskNetwork(task, params, sizes) for task in tasks}
    trained = RECURRENT + READOUT + ("h0",)
    extra = {
        "tasks": list(tasks),
        "alpha": config.alpha,
        "project": config.project,
        "accuracy_matrix": {
            key: _accuracy_table(scores, tasks, key)
            for key in ("paper_accuracy", "strict_accuracy")
        },
    }
    return StrategyResult(
        "dni",
        networks,
        sum(params[name].size for name in trained),
        updates,
        time.perf_counter() - start,
        curves,
        extra,
    )

"""A PyTorch port of the MoLaP network, checked against a reference bundle.

An independent implementation of equations (1)-(3) of ``molap_np.reference``
that reads the bundle with ``numpy.load`` alone (no molap_np code), so that
a mismatch shows a bug on one side or the other:

    h[t+1] = tanh(W_in x[t] + J h[t] + b)        y[t] = W_out h[t+1] + b_out
    L = mean((y - y*)^2) + l2 (|W_in|^2 + |J|^2)

Gradients come from ``torch.autograd``. Used by tests/test_reference.py and
shown in tutorials/07_reference_checks.ipynb, which reads this file.
"""

import json

import numpy as np
import torch

WEIGHT_NAMES = ("W_in", "J", "b", "W_out", "b_out", "h0")


def load_bundle(path, dtype=torch.float64):
    """The batch, the weights and l2 of a bundle, as tensors of ``dtype``.

    Returns
    -------
    inputs : Tensor, shape (T, B, n_in)
    targets : Tensor, shape (T, B, n_out)
    weights : dict of Tensor
        The six weights, each with ``requires_grad`` set.
    l2 : float
    """
    with np.load(path, allow_pickle=False) as bundle:
        metadata = json.loads(str(bundle["metadata"]))
        inputs = torch.tensor(bundle["inputs"], dtype=dtype)
        targets = torch.tensor(bundle["targets"], dtype=dtype)
        weights = {
            name: torch.tensor(bundle[name], dtype=dtype, requires_grad=True)
            for name in WEIGHT_NAMES
        }
    return inputs, targets, weights, metadata["l2"]


def run_network(weights, inputs):
    """States h[1] .. h[T], shape (T, B, N), and outputs (T, B, n_out)."""
    B = inputs.shape[1]
    h = weights["h0"].expand(B, -1)  # (B, N): every trial starts at h0

    states = []
    for x in inputs:  # x: (B, n_in), one time step
        h = torch.tanh(x @ weights["W_in"].T + h @ weights["J"].T + weights["b"])
        states.append(h)
    states = torch.stack(states)  # (T, B, N)

    outputs = states @ weights["W_out"].T + weights["b_out"]
    return states, outputs


def loss_of(weights, outputs, targets, l2):
    """Mean squared error over every entry plus the L2 term, a scalar."""
    penalty = (weights["W_in"] ** 2).sum() + (weights["J"] ** 2).sum()
    return ((outputs - targets) ** 2).mean() + l2 * penalty


def run_port(path, dtype=torch.float64):
    """Everything the checker compares, as NumPy arrays of ``dtype``.

    Returns
    -------
    dict of ndarray
        ``states``, ``outputs``, ``loss`` and ``grad_<weight>`` for the six
        weights: the keys of ``molap_np.reference.QUANTITIES``.
    """
    inputs, targets, weights, l2 = load_bundle(path, dtype)
    states, outputs = run_network(weights, inputs)
    loss = loss_of(weights, outputs, targets, l2)
    loss.backward()

    results = {"states": states, "outputs": outputs, "loss": loss}
    for name, weight in weights.items():
        results[f"grad_{name}"] = weight.grad
    return {key: value.detach().numpy() for key, value in results.items()}


def measure_errors(dtype, sizes=(10, 30, 150), seeds=200, batch_size=8):
    """Largest errors of this port in ``dtype`` over many bundles, printed.

    The measurement behind the tolerances of molap_np.reference:
    ``python tests/torch_port.py`` (about 30 s on one core).
    """
    import os
    import tempfile

    from molap_np.reference import check_against_reference, write_reference
    from molap_np.tasks import TASK_NAMES

    path = os.path.join(tempfile.mkdtemp(), "bundle.npz")
    name = str(dtype).removeprefix("torch.")
    print(f"{name:<8}{'N':>4}{'bundles':>9}{'median':>10}{'99th pct':>10}{'max':>10}")
    for N in sizes:
        worst = []
        for seed in range(seeds):
            task = TASK_NAMES[seed % len(TASK_NAMES)]
            write_reference(path, seed, task, N=N, batch_size=batch_size)
            result = check_against_reference(path, run_port(path, dtype), name)
            quantity, error = max(result.errors.items(), key=lambda item: item[1])
            worst.append((error, quantity, task, seed))
        median, p99 = np.percentile([w[0] for w in worst], [50, 99])
        error, quantity, task, seed = max(worst)
        print(
            f"{'':<8}{N:>4}{seeds:>9}{median:>10.1e}{p99:>10.1e}{error:>10.1e}"
            f"  {quantity} ({task}, seed {seed})"
        )


if __name__ == "__main__":
    torch.set_num_threads(1)
    measure_errors(torch.float64, seeds=50)
    measure_errors(torch.float32, seeds=200)

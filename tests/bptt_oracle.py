"""Backpropagation through time derived by hand, in plain NumPy.

An oracle for ``molap_np.rnn`` and ``molap_np.training`` that shares no code
with them. For one batch (x: inputs, y*: targets)::

    h[t+1] = tanh(W_in x[t] + J h[t] + b)       y[t] = W_out h[t+1] + b_out
    L = mean((y - y*)^2) + l2 (|W_in|^2 + |J|^2)

The chain rule, step by step backwards from t = T - 1, with e[t] = dL/dy[t]
= 2 (y[t] - y*[t]) / (number of entries of y) and the gradient of the
pre-activation of step t written delta[t]::

    dL/dh[t+1] = W_out^T e[t] + J^T delta[t+1]      (delta[T] = 0)
    delta[t]   = dL/dh[t+1] * (1 - h[t+1]^2)

    dL/dW_in  = sum_t delta[t] x[t]^T + 2 l2 W_in
    dL/dJ     = sum_t delta[t] h[t]^T + 2 l2 J
    dL/db     = sum_t delta[t]
    dL/dW_out = sum_t e[t] h[t+1]^T     dL/db_out = sum_t e[t]
    dL/dh0    = sum over trials of J^T delta[0]

Every sum over t also runs over the trials of the batch. Written one trial
at a time with explicit vectors, the way the equations read.
"""

import numpy as np


def _run_trial(params, x):
    """States h[0] .. h[T] of one trial, x (T, n_in); list of (N,) arrays."""
    h = [params["h0"]]
    for x_t in x:
        h.append(np.tanh(params["W_in"] @ x_t + params["J"] @ h[-1] + params["b"]))
    return h


def loss_and_grads(params, inputs, targets, l2):
    """Loss (3) and its gradient with respect to all six weights.

    Parameters
    ----------
    params : dict of ndarray
        ``W_in`` (N, n_in), ``J`` (N, N), ``b`` (N,), ``W_out`` (n_out, N),
        ``b_out`` (n_out,), ``h0`` (N,).
    inputs : ndarray, shape (T, B, n_in)
    targets : ndarray, shape (T, B, n_out)
    l2 : float

    Returns
    -------
    loss : float
    grads : dict of ndarray, shaped like ``params``
    """
    T, B, _ = inputs.shape
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    squared_error = 0.0
    for i in range(B):
        h = _run_trial(params, inputs[:, i])
        y = [params["W_out"] @ h[t + 1] + params["b_out"] for t in range(T)]
        e = [2 * (y[t] - targets[t, i]) / targets.size for t in range(T)]
        squared_error += sum(np.sum((y[t] - targets[t, i]) ** 2) for t in range(T))

        delta_next = np.zeros_like(params["h0"])
        for t in reversed(range(T)):
            dh = params["W_out"].T @ e[t] + params["J"].T @ delta_next
            delta = dh * (1 - h[t + 1] ** 2)
            grads["W_in"] += np.outer(delta, inputs[t, i])
            grads["J"] += np.outer(delta, h[t])
            grads["b"] += delta
            grads["W_out"] += np.outer(e[t], h[t + 1])
            grads["b_out"] += e[t]
            delta_next = delta
        grads["h0"] += params["J"].T @ delta_next

    penalty = np.sum(params["W_in"] ** 2) + np.sum(params["J"] ** 2)
    grads["W_in"] += 2 * l2 * params["W_in"]
    grads["J"] += 2 * l2 * params["J"]
    return squared_error / targets.size + l2 * penalty, grads

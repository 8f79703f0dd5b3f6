"""Canonical correlation analysis (CCA) in NumPy.

Given paired samples X (n, p) and Y (n, q), CCA finds weight vectors a_k and
b_k such that the canonical variates u_k = X a_k and v_k = Y b_k are as
correlated as possible, each pair uncorrelated with the pairs before it.

The implementation standardises each column, whitens each block and takes one
singular value decomposition::

    X_s = (X - mean_x) / scale_x            Y_s = (Y - mean_y) / scale_y   (1)
    C_xx = X_s' X_s / (n - 1) + reg I       C_yy = Y_s' Y_s / (n - 1) + reg I
    C_xy = X_s' Y_s / (n - 1)                                              (2)
    W_x = C_xx^(-1/2) = E diag(lambda^(-1/2)) E'   (eigendecomposition)    (3)
    W_x C_xy W_y = P diag(rho) Q'                  (singular values, sorted)
    A = W_x P[:, :r]        B = W_y Q[:, :r]                               (4)
    U = X_s A               V = Y_s B                                      (5)

With ``reg = 0`` each column of U and V has unit variance, the columns of U
are mutually uncorrelated (those of V too), and corr(U_k, V_k) = rho_k, the
k-th canonical correlation. Equation (1) makes the result invariant to the
units of each column.

Rank deficiency. A constant column (zero scale) is given the scale 1, so it
standardises to a column of zeros instead of NaN. With ``reg = 0`` a singular
C_xx or C_yy (a constant column, collinear columns, fewer rows than columns)
raises ``RankDeficientError`` naming the block. With ``reg > 0`` the ridge
of equation (2) makes both blocks invertible: directions without variance
then get no correlation, and the other correlations and variances shrink
slightly (a relative change of about reg over the smallest non-zero
eigenvalue of the block's correlation matrix). The MoLaP corpus needs this:
its nine fixation targets are identical columns.

Signs. Each pair (a_k, b_k) may be negated without changing anything, so the
sign is fixed: the entry of largest magnitude of each column of A is
positive (B follows, keeping rho_k >= 0). Results are then reproducible.
"""

from dataclasses import dataclass

import numpy as np

_ARRAYS = ("A", "B", "correlations", "x_mean", "x_scale", "y_mean", "y_scale")


# Eigenvalues below this fraction of the largest count as zero (reg = 0).
RANK_TOL = 1e-10


class RankDeficientError(ValueError):
    """A covariance block is singular and no ridge was asked for."""


@dataclass
class CCAResult:
    """A fitted CCA.

    Attributes
    ----------
    A : ndarray, shape (p, r)
        Weights of the standardised X columns, equation (4).
    B : ndarray, shape (q, r)
        Weights of the standardised Y columns.
    correlations : ndarray, shape (r,)
        Canonical correlations rho_1 >= ... >= rho_r >= 0.
    x_mean, x_scale : ndarray, shape (p,)
        Column means and standard deviations of the fitted X (a constant
        column has scale 1).
    y_mean, y_scale : ndarray, shape (q,)
        The same for Y.
    reg : float
        Ridge added to the diagonal of both correlation blocks.
    n_samples : int
        Rows the fit used.
    """

    A: np.ndarray
    B: np.ndarray
    correlations: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    reg: float
    n_samples: int

    @property
    def r(self):
        """Number of canonical pairs."""
        return self.A.shape[1]

    def transform_x(self, X):
        """Canonical variates U of new X (n, p), shape (n, r)."""
        X = _check_block(X, "X", self.A.shape[0])
        return ((X - self.x_mean) / self.x_scale) @ self.A

    def transform_y(self, Y):
        """Canonical variates V of new Y (n, q), shape (n, r)."""
        Y = _check_block(Y, "Y", self.B.shape[0])
        return ((Y - self.y_mean) / self.y_scale) @ self.B

    def transform(self, X, Y):
        """Both variates, ``(U, V)``, each of shape (n, r)."""
        return self.transform_x(X), self.transform_y(Y)

    def to_dict(self):
        """The fit as plain lists and numbers, for JSON metadata."""
        out = {name: getattr(self, name).tolist() for name in _ARRAYS}
        out["reg"] = float(self.reg)
        out["n_samples"] = int(self.n_samples)
        return out

    @classmethod
    def from_dict(cls, data):
        """Inverse of ``to_dict``."""
        arrays = {name: np.asarray(data[name], dtype=float) for name in _ARRAYS}
        return cls(**arrays, reg=float(data["reg"]), n_samples=data["n_samples"])


def _check_block(M, name, columns=None):
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got {M.shape}")
    if columns is not None and M.shape[1] != columns:
        raise ValueError(f"{name} must have {columns} columns, got {M.shape[1]}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{name} contains NaN or inf")
    return M


def standardise(M):
    """Column means and scales of M (n, c); a constant column gets scale 1."""
    mean = M.mean(axis=0)
    scale = M.std(axis=0, ddof=1)
    constant = scale <= 1e-12 * (1.0 + np.abs(mean))
    return mean, np.where(constant, 1.0, scale)


def inverse_sqrt(C, name, reg):
    """C^(-1/2) of a symmetric matrix by eigendecomposition, equation (3)."""
    eigenvalues, E = np.linalg.eigh(C)
    singular = eigenvalues[0] <= RANK_TOL * max(eigenvalues[-1], 1e-300)
    if (singular and reg == 0) or eigenvalues[0] <= 0:
        raise RankDeficientError(
            f"the covariance of {name} is singular (smallest eigenvalue "
            f"{eigenvalues[0]:.3g}, ridge {reg:.3g}): a constant or collinear "
            f"column, or fewer samples than columns. Pass a larger reg "
            f"(e.g. 1e-6) or remove the redundant columns."
        )
    return (E / np.sqrt(eigenvalues)) @ E.T


def _fix_signs(A, B):
    """Make the largest-magnitude entry of each column of A positive."""
    rows = np.argmax(np.abs(A), axis=0)
    signs = np.sign(A[rows, np.arange(A.shape[1])])
    signs[signs == 0] = 1.0
    return A * signs, B * signs


def fit_cca(X, Y, r=None, reg=0.0):
    """Fit CCA to paired samples, equations (1) to (4).

    Parameters
    ----------
    X : ndarray, shape (n, p)
    Y : ndarray, shape (n, q)
        Row i of X is paired with row i of Y.
    r : int, optional
        Number of canonical pairs, 1 <= r <= min(p, q); all by default.
    reg : float
        Ridge added to the diagonals of the standardised covariances. With 0
        a singular block raises ``RankDeficientError``.

    Returns
    -------
    CCAResult
    """
    X, Y = _check_block(X, "X"), _check_block(Y, "Y")
    n, p = X.shape
    q = Y.shape[1]
    if Y.shape[0] != n:
        raise ValueError(f"X and Y must have the same rows, got {n} and {Y.shape[0]}")
    if n < 2:
        raise ValueError(f"CCA needs at least 2 samples, got {n}")
    r = min(p, q) if r is None else r
    if not 1 <= r <= min(p, q):
        raise ValueError(f"r must be between 1 and min(p, q) = {min(p, q)}, got {r}")
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg}")

    x_mean, x_scale = standardise(X)
    y_mean, y_scale = standardise(Y)
    Xs = (X - x_mean) / x_scale
    Ys = (Y - y_mean) / y_scale

    C_xx = Xs.T @ Xs / (n - 1) + reg * np.eye(p)
    C_yy = Ys.T @ Ys / (n - 1) + reg * np.eye(q)
    C_xy = Xs.T @ Ys / (n - 1)
    W_x = inverse_sqrt(C_xx, "X", reg)
    W_y = inverse_sqrt(C_yy, "Y", reg)

    P, rho, Qt = np.linalg.svd(W_x @ C_xy @ W_y)
    A, B = _fix_signs(W_x @ P[:, :r], W_y @ Qt[:r].T)
    return CCAResult(A, B, rho[:r], x_mean, x_scale, y_mean, y_scale, float(reg), n)

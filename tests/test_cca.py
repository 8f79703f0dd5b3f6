"""CCA against known structure and against an independent implementation."""

import numpy as np
import pytest

from molap_np.cca import CCAResult, RankDeficientError, fit_cca

# Noise levels of the two shared latents in X and in Y (see _latent_data).
NOISE_X = (0.3, 1.0)
NOISE_Y = (0.5, 0.8)


def _latent_data(n, rng):
    """X (n, 4) and Y (n, 3) that share two latent signals, then mixed.

    Before mixing, x_j = z_j + e_j and y_j = z_j + f_j for j = 1, 2 with
    unit-variance latents z_j and independent noises; every other column is
    independent noise. The canonical correlations are then those of the
    pairs, corr(x_j, y_j) = 1 / sqrt((1 + sx_j^2) (1 + sy_j^2)), and zero.
    Invertible mixing of each block leaves them unchanged.
    """
    z = rng.normal(size=(n, 2))
    X0 = np.column_stack(
        [z[:, j] + NOISE_X[j] * rng.normal(size=n) for j in range(2)]
        + [rng.normal(size=n) for _ in range(2)]
    )
    Y0 = np.column_stack(
        [z[:, j] + NOISE_Y[j] * rng.normal(size=n) for j in range(2)]
        + [rng.normal(size=n)]
    )
    X = X0 @ rng.normal(size=(4, 4)) + rng.normal(size=4)
    Y = Y0 @ rng.normal(size=(3, 3)) + rng.normal(size=3)
    return X, Y, X0, Y0


def _expected_correlations():
    nx, ny = np.array(NOISE_X), np.array(NOISE_Y)
    return 1 / np.sqrt((1 + nx**2) * (1 + ny**2))


def _qr_cca(X, Y):
    """Bjorck-Golub CCA: SVD of Qx' Qy from thin QR of the centred blocks."""
    Qx, _ = np.linalg.qr(X - X.mean(axis=0))
    Qy, _ = np.linalg.qr(Y - Y.mean(axis=0))
    P, rho, Qt = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    scale = np.sqrt(X.shape[0] - 1)
    return rho, Qx @ P * scale, Qy @ Qt.T * scale


def _span_r2(U, basis):
    """R^2 of each column of U regressed on the columns of basis."""
    basis = np.column_stack([basis, np.ones(len(basis))])
    coef, *_ = np.linalg.lstsq(basis, U, rcond=None)
    residual = U - basis @ coef
    return 1 - residual.var(axis=0) / U.var(axis=0)


def test_recovers_known_correlations_and_subspace():
    X, Y, X0, Y0 = _latent_data(40_000, np.random.default_rng(0))
    result = fit_cca(X, Y, r=3)
    expected = _expected_correlations()
    np.testing.assert_allclose(result.correlations[:2], expected, atol=0.01)
    assert result.correlations[2] < 0.03

    # Variate k should be latent pair k's noisy copy, x_k in X and y_k in Y.
    U, V = result.transform(X, Y)
    for k in range(2):
        assert _span_r2(U[:, k : k + 1], X0[:, k])[0] > 0.99
        assert _span_r2(V[:, k : k + 1], Y0[:, k])[0] > 0.99


def test_variates_are_white_and_paired():
    X, Y, *_ = _latent_data(2_000, np.random.default_rng(1))
    result = fit_cca(X, Y)
    U, V = result.transform(X, Y)
    r = result.r
    np.testing.assert_allclose(np.cov(U.T), np.eye(r), atol=1e-10)
    np.testing.assert_allclose(np.cov(V.T), np.eye(r), atol=1e-10)
    cross = np.cov(U.T, V.T)[:r, r:]
    np.testing.assert_allclose(cross, np.diag(result.correlations), atol=1e-10)


def test_matches_qr_oracle():
    X, Y, *_ = _latent_data(3_000, np.random.default_rng(2))
    result = fit_cca(X, Y)
    rho, U_oracle, V_oracle = _qr_cca(X, Y)
    np.testing.assert_allclose(result.correlations, rho, rtol=1e-10)

    U, V = result.transform(X, Y)
    signs = np.sign(np.sum(U * U_oracle, axis=0))
    np.testing.assert_allclose(U, U_oracle * signs, atol=1e-8)
    np.testing.assert_allclose(V, V_oracle * signs, atol=1e-8)


def test_matches_generalised_eigenproblem():
    # Cxx^-1 Cxy Cyy^-1 Cyx a = rho^2 a, solved directly with numpy.linalg.
    X, Y, *_ = _latent_data(3_000, np.random.default_rng(3))
    C = np.cov(X.T, Y.T)
    p = X.shape[1]
    Cxx, Cxy, Cyy = C[:p, :p], C[:p, p:], C[p:, p:]
    M = np.linalg.solve(Cxx, Cxy @ np.linalg.solve(Cyy, Cxy.T))
    eigenvalues = np.sort(np.linalg.eigvals(M).real)[::-1]
    result = fit_cca(X, Y)
    np.testing.assert_allclose(result.correlations**2, eigenvalues[:3], rtol=1e-8)


def test_invariant_to_column_scales_and_offsets():
    rng = np.random.default_rng(4)
    X, Y, *_ = _latent_data(1_000, rng)
    result = fit_cca(X, Y)
    X2 = X * rng.uniform(0.01, 100, size=4) + rng.normal(size=4) * 50
    Y2 = Y * rng.uniform(0.01, 100, size=3) - 7.0
    result2 = fit_cca(X2, Y2)
    np.testing.assert_allclose(result2.correlations, result.correlations, rtol=1e-10)
    np.testing.assert_allclose(
        result2.transform_x(X2), result.transform_x(X), atol=1e-9
    )
    np.testing.assert_allclose(
        result2.transform_y(Y2), result.transform_y(Y), atol=1e-9
    )


def test_sign_convention_and_determinism():
    X, Y, *_ = _latent_data(1_000, np.random.default_rng(5))
    result = fit_cca(X, Y)
    largest = result.A[np.argmax(np.abs(result.A), axis=0), np.arange(result.r)]
    assert np.all(largest > 0)
    assert np.all(result.correlations >= 0)

    order = np.random.default_rng(6).permutation(len(X))
    shuffled = fit_cca(X[order], Y[order])
    np.testing.assert_allclose(shuffled.A, result.A, atol=1e-10)
    np.testing.assert_allclose(shuffled.B, result.B, atol=1e-10)


def test_constant_column_errors_without_ridge_and_is_ignored_with_it():
    X, Y, *_ = _latent_data(2_000, np.random.default_rng(7))
    X_const = np.column_stack([X, np.full(len(X), 3.0)])
    with pytest.raises(RankDeficientError, match="covariance of X is singular"):
        fit_cca(X_const, Y)

    plain = fit_cca(X, Y, reg=1e-6)
    ridge = fit_cca(X_const, Y, reg=1e-6)
    assert np.all(np.isfinite(ridge.A)) and np.all(np.isfinite(ridge.B))
    np.testing.assert_allclose(ridge.correlations, plain.correlations, rtol=1e-12)
    np.testing.assert_allclose(ridge.A[-1], 0.0, atol=1e-9)
    np.testing.assert_allclose(ridge.transform_x(X_const), plain.transform_x(X))


def test_collinear_columns_error_without_ridge_and_agree_with_it():
    X, Y, *_ = _latent_data(2_000, np.random.default_rng(8))
    Y_twice = np.column_stack([Y, 2 * Y[:, 0] - Y[:, 1]])
    with pytest.raises(RankDeficientError, match="covariance of Y"):
        fit_cca(X, Y_twice)

    ridge = fit_cca(X, Y_twice, r=3, reg=1e-6)
    np.testing.assert_allclose(
        ridge.correlations, fit_cca(X, Y).correlations, atol=1e-4
    )
    _, V = ridge.transform(X, Y_twice)
    np.testing.assert_allclose(np.cov(V.T), np.eye(3), atol=1e-4)


def test_dict_round_trip_and_input_checks():
    X, Y, *_ = _latent_data(500, np.random.default_rng(9))
    result = fit_cca(X, Y, r=2)
    again = CCAResult.from_dict(result.to_dict())
    np.testing.assert_array_equal(again.transform_x(X), result.transform_x(X))
    with pytest.raises(ValueError, match="4 columns"):
        result.transform_x(Y)
    with pytest.raises(ValueError, match="r must be between 1 and"):
        fit_cca(X, Y, r=4)
    with pytest.raises(ValueError, match="same rows"):
        fit_cca(X, Y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        fit_cca(np.where(X > 2, np.nan, X), Y)

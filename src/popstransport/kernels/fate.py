"""Exact per-cell solve of the linear compartment system dX/dt = K X + E for all tags at once.

For constant K and E over a step of length h, with the propagators

    Phi   = exp(K h),
    Psi   = integral_0^h exp(K s) ds,
    Gamma = integral_0^h integral_0^s exp(K r) dr ds,

the state after the step and its time integral over the step are exactly

    X(h)              = Phi X0 + Psi E,
    integral_0^h X dt = Psi X0 + Gamma E.

The propagators come from one matrix exponential of an augmented block matrix (Van Loan 1978, IEEE Trans. Autom.
Control 23:395, Theorem 1); they are computed in :mod:`popstransport.processes.fate`. Here they are applied.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def apply_propagators(
    air: np.ndarray,
    surface: np.ndarray,
    e_air: np.ndarray,
    e_surface: np.ndarray,
    phi: np.ndarray,
    psi: np.ndarray,
    gamma: np.ndarray,
    int_air: np.ndarray,
    int_surface: np.ndarray,
) -> None:
    """Advance the compartment masses in place and write their time integrals over the step.

    The compartment vector of a cell is the air layers followed by the surface compartments.

    Parameters
    ----------
    air : (T, L, J, I) chemical mass in every air layer (kg); overwritten with the state after the step.
    surface : (T, S, J, I) chemical mass in every surface compartment (kg); overwritten likewise.
    e_air, e_surface : emission rates (kg s-1) shaped like ``air`` and ``surface``, constant over the step.
    phi, psi, gamma : (J, I, L + S, L + S) propagators of every cell (see module docstring).
    int_air, int_surface : outputs shaped like ``air`` and ``surface``: the time integrals over the step (kg s).
    """
    ntag, nlayer, nlat, nlon = air.shape
    nsurf = surface.shape[1]
    ncomp = nlayer + nsurf
    for j in prange(nlat):
        x0 = np.empty(ncomp)
        e0 = np.empty(ncomp)
        for t in range(ntag):
            for i in range(nlon):
                for c in range(nlayer):
                    x0[c] = air[t, c, j, i]
                    e0[c] = e_air[t, c, j, i]
                for c in range(nsurf):
                    x0[nlayer + c] = surface[t, c, j, i]
                    e0[nlayer + c] = e_surface[t, c, j, i]
                for r in range(ncomp):
                    acc_x = 0.0
                    acc_int = 0.0
                    for c in range(ncomp):
                        acc_x += phi[j, i, r, c] * x0[c] + psi[j, i, r, c] * e0[c]
                        acc_int += psi[j, i, r, c] * x0[c] + gamma[j, i, r, c] * e0[c]
                    if r < nlayer:
                        air[t, r, j, i] = acc_x
                        int_air[t, r, j, i] = acc_int
                    else:
                        surface[t, r - nlayer, j, i] = acc_x
                        int_surface[t, r - nlayer, j, i] = acc_int

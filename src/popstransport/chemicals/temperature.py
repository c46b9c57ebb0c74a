"""Temperature dependence of partition coefficients and degradation rate constants.

Partition coefficients follow the integrated van 't Hoff equation with internal energies of phase transfer, in the
convention of BETR-Research (``tempcorrect.py``; MacLeod et al. 2001, Environ. Toxicol. Chem. 20:1215, and
Schenker et al. 2005, Environ. Sci. Technol. 39:8434)::

    K(T) = K(T_ref) exp[ dU / R (1 / T_ref - 1 / T) ],        T_ref = 298.15 K

with ``dU_oa < 0`` (Koa rises in cold air), ``dU_aw > 0`` (Kaw falls in cold air) and
``dU_aw = dU_ow - dU_oa``. Degradation rate constants follow the Arrhenius equation with activation energy ``Ea``,
which has the same form::

    k(T) = k(T_ref) exp[ Ea / R (1 / T_ref - 1 / T) ].

All functions accept scalars or arrays of any shape (per cell and met record) and broadcast.
"""

from __future__ import annotations

import numpy as np

from ..constants import GAS_CONSTANT_J_MOL_K, REFERENCE_TEMPERATURE_K


def van_t_hoff(
    value_ref: float | np.ndarray,
    du_j_mol: float,
    temperature_k: float | np.ndarray,
    reference_k: float = REFERENCE_TEMPERATURE_K,
) -> float | np.ndarray:
    """Partition coefficient at ``temperature_k`` from its value at ``reference_k`` (van 't Hoff, BETR convention).

    Parameters
    ----------
    value_ref
        Partition coefficient (not its logarithm) at ``reference_k``.
    du_j_mol
        Internal energy of phase transfer (J mol-1), sign convention of the module docstring.
    temperature_k
        Temperature (K), scalar or array.
    reference_k
        Reference temperature (K), 298.15 K by default.

    Returns
    -------
    The partition coefficient at ``temperature_k``, broadcast to the shape of ``temperature_k``.
    """
    t = np.asarray(temperature_k, dtype=float)
    if np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"temperature must be finite and positive (K); got min {np.min(t)!r}")
    out = value_ref * np.exp(du_j_mol / GAS_CONSTANT_J_MOL_K * (1.0 / reference_k - 1.0 / t))
    return float(out) if np.ndim(out) == 0 else out


def arrhenius(
    rate_ref: float | np.ndarray,
    ea_j_mol: float,
    temperature_k: float | np.ndarray,
    reference_k: float = REFERENCE_TEMPERATURE_K,
) -> float | np.ndarray:
    """Rate constant at ``temperature_k`` from its value at ``reference_k`` with activation energy ``ea_j_mol``.

    ``k(T) = k(T_ref) exp[Ea/R (1/T_ref - 1/T)]`` (Arrhenius; the form used by BETR-Research ``tempcorrect.py``).
    """
    return van_t_hoff(rate_ref, ea_j_mol, temperature_k, reference_k)


def log10_van_t_hoff(
    log_value_ref: float,
    du_j_mol: float,
    temperature_k: float | np.ndarray,
    reference_k: float = REFERENCE_TEMPERATURE_K,
) -> float | np.ndarray:
    """``log10 K(T)`` from ``log10 K(T_ref)``: ``log K_ref + dU / (R ln 10) (1/T_ref - 1/T)``."""
    t = np.asarray(temperature_k, dtype=float)
    out = log_value_ref + du_j_mol / (GAS_CONSTANT_J_MOL_K * np.log(10.0)) * (1.0 / reference_k - 1.0 / t)
    return float(out) if np.ndim(out) == 0 else out


__all__ = ["arrhenius", "log10_van_t_hoff", "van_t_hoff"]

"""The per-cell fate system: first-order transfers between compartments, assembled into K and solved exactly.

Every fate process (partitioning-dependent deposition, air-surface exchange, degradation, burial, ...) describes
itself as a list of :class:`Transfer` objects: mass leaves compartment ``source`` at the first-order rate
``rate_s`` (s-1) and enters compartment ``target`` or a budget sink. Because every transfer is first order in the
chemical, the system is linear, dX/dt = K X + E, with

    K[target, source] += rate,    K[source, source] -= rate.

:class:`FateSolver` computes the exact propagators of K over a step (see :mod:`popstransport.kernels.fate`) and
reports, for every transfer, the exact mass it moved, ``rate * integral(X_source dt)``, so the budget closes to
round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.linalg

from ..kernels.fate import (
    PROPAGATOR_LANES,
    accumulate_transfers,
    advance_propagators,
    apply_propagators,
    compute_propagators,
    integrate_start_sums,
)

#: Budget sinks a transfer may end in instead of a compartment.
SINKS: tuple[str, ...] = ("degraded", "buried", "leached", "settled")


#: Output flux kinds an air-surface transfer can declare (see :attr:`Transfer.kind`).
TRANSFER_KINDS: tuple[str, ...] = ("wet_deposition", "dry_deposition", "air_surface_exchange")


@dataclass(frozen=True)
class Transfer:
    """A first-order mass transfer from compartment ``source`` to compartment (or sink) ``target``.

    ``rate_s`` is the rate constant in s-1: a scalar or an array of shape ``(J, I)``; it must be finite and >= 0.
    ``kind`` says which output flux field an air-surface transfer belongs to (one of :data:`TRANSFER_KINDS`);
    air-surface transfers that declare none count as air-surface exchange.
    """

    process: str
    source: str
    target: str
    rate_s: np.ndarray | float
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in TRANSFER_KINDS:
            raise FateError(f"process {self.process!r}: transfer kind {self.kind!r} is not one of {TRANSFER_KINDS}")


class FateError(ValueError):
    """An invalid set of transfers (unknown compartment, negative or non-finite rate)."""


def assemble_rate_matrix(
    transfers: list[Transfer], compartments: tuple[str, ...], shape: tuple[int, int]
) -> tuple[np.ndarray, list[tuple[Transfer, np.ndarray]]]:
    """Build K, shape ``(J, I, C, C)``, from ``transfers``; return it with each transfer's broadcast rate array."""
    index = {name: k for k, name in enumerate(compartments)}
    nlat, nlon = shape
    n = len(compartments)
    k_matrix = np.zeros((nlat, nlon, n, n))
    resolved = []
    for tr in transfers:
        if tr.source not in index:
            raise FateError(
                f"process {tr.process!r}: source compartment {tr.source!r} does not exist; "
                f"compartments are {list(compartments)}"
            )
        if tr.target not in index and tr.target not in SINKS:
            raise FateError(
                f"process {tr.process!r}: target {tr.target!r} is neither a compartment {list(compartments)} "
                f"nor a sink {list(SINKS)}"
            )
        rate = np.broadcast_to(np.asarray(tr.rate_s, dtype=np.float64), shape)
        if not np.all(np.isfinite(rate)) or np.any(rate < 0):
            bad = np.argwhere(~np.isfinite(rate) | (rate < 0))[0]
            raise FateError(
                f"process {tr.process!r} ({tr.source} -> {tr.target}): rate {rate[tuple(bad)]!r} s-1 at cell "
                f"(lat index {bad[0]}, lon index {bad[1]}); rates must be finite and >= 0"
            )
        s = index[tr.source]
        k_matrix[:, :, s, s] -= rate
        if tr.target in index:
            k_matrix[:, :, index[tr.target], s] += rate
        resolved.append((tr, rate))
    return k_matrix, resolved


def propagators_by_row(k_matrix: np.ndarray, dt_s: float,
                       loss_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact propagators Phi, Psi, Gamma of K ``(J, I, C, C)`` over ``dt_s`` for every cell, each ``(J, C, C, I)``
    (longitude innermost, the layout of :func:`apply_propagators`; see :func:`compute_propagators`), made to conserve
    mass to round-off (:func:`conserve_mass`) with ``loss_s`` ``(J, I, C)``, the rate at which every compartment
    loses mass out of the system (s-1; None: minus the column sums of K, which lose digits where K is stiff)."""
    if k_matrix.ndim != 4 or k_matrix.shape[2] != k_matrix.shape[3]:
        raise ValueError(f"k_matrix has shape {k_matrix.shape}; expected (lat, lon, compartment, compartment)")
    nlat, nlon, n, _ = k_matrix.shape
    k_rows = np.ascontiguousarray(np.asarray(k_matrix, dtype=np.float64).transpose(0, 2, 3, 1))
    phi = np.empty_like(k_rows)
    psi = np.empty_like(k_rows)
    gamma = np.empty_like(k_rows)
    # one set of work arrays per chunk of rows: a few chunks per thread balance the load
    nchunk = max(1, min(nlat, 4 * numba.get_num_threads()))
    nb = min(nlon, PROPAGATOR_LANES)
    compute_propagators(k_rows, float(dt_s), phi, psi, gamma, np.empty((nchunk, 9, n, n, nb)),
                        np.empty((nchunk, nb), dtype=np.int64), np.empty((nchunk, 4, nb)))
    loss = -k_matrix.sum(axis=2) if loss_s is None else np.asarray(loss_s, dtype=np.float64)
    conserve_mass(np.ascontiguousarray(loss.transpose(0, 2, 1)), float(dt_s), phi, psi, gamma)
    return phi, psi, gamma


def conserve_mass(loss_s: np.ndarray, dt_s: float, phi: np.ndarray, psi: np.ndarray, gamma: np.ndarray) -> None:
    """Rescale every column of ``psi`` and then of ``phi`` (in place, row layout ``(J, C, C, I)``) so that the
    propagators conserve mass to round-off: with ``s = loss_s`` ``(J, C, I)``, the rate at which each compartment
    loses mass out of the system (degradation, burial, ...: the sinks' rates, as the budget books them),
    ``1^T Psi + s^T Gamma = dt 1^T`` and ``1^T Phi + s^T Psi = 1^T``, the identities of the exact propagators
    (integrate ``d/dt 1^T Phi(t) = -s^T Phi(t)``). Then the mass a step leaves in the cell plus what its sinks took
    (``s`` times the state's integral) equals the mass at the start plus the emitted mass, and the budget closes.

    The scaling-and-squaring propagators miss the identities by about the unit round-off times ``|K dt|`` (the
    squarings amplify it): stiff turbulent mixing between thin air layers (10 layers from 10 m, 1e3 m2 s-1,
    3-hour steps: ``|K dt|`` 1.6e5) missed them by 1.3e-10 a step, and the budget's relative closure error reached
    1.3e-9 in a month. A column's factor is ``1 + O(that)``; factors further than 1e-6 from 1 (a sink so fast that
    the identity itself loses its digits to cancellation) are not applied. Scaling keeps every entry's sign.
    """
    s = loss_s
    for target, prop, by in ((dt_s, psi, gamma), (1.0, phi, psi)):
        want = target - np.einsum("jri,jrci->jci", s, by)
        have = prop.sum(axis=1)
        factor = np.divide(want, have, out=np.ones_like(have), where=have > 0)
        factor[~(np.abs(factor - 1.0) < 1e-6)] = 1.0
        prop *= factor[:, None]


def propagators(k_matrix: np.ndarray, dt_s: float,
                loss_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact propagators Phi, Psi, Gamma of K ``(J, I, C, C)`` over ``dt_s`` for every cell, each ``(J, I, C, C)``
    (see :func:`compute_propagators`; ``loss_s`` as in :func:`propagators_by_row`)."""
    return tuple(np.ascontiguousarray(p.transpose(0, 3, 1, 2)) for p in propagators_by_row(k_matrix, dt_s, loss_s))


def propagators_reference(k_matrix: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference propagators from one matrix exponential of an augmented block matrix (Van Loan 1978, Theorem 1).

    The exponential of ``[[K h, I, 0], [0, 0, I], [0, 0, 0]]`` is ``[[Phi, Psi / h, Gamma / h^2], [0, I, I],
    [0, 0, I]]`` (dimensionless time t / h keeps the blocks balanced for long steps). Slow; used to check
    :func:`propagators`.
    """
    nlat, nlon, n, _ = k_matrix.shape
    flat = k_matrix.reshape(-1, n, n)
    aug = np.zeros((len(flat), 3 * n, 3 * n))
    aug[:, :n, :n] = flat * dt_s
    aug[:, :n, n : 2 * n] = np.eye(n)
    aug[:, n : 2 * n, 2 * n :] = np.eye(n)
    expo = scipy.linalg.expm(aug)
    shape = (nlat, nlon, n, n)
    return (expo[:, :n, :n].reshape(shape), (expo[:, :n, n : 2 * n] * dt_s).reshape(shape),
            (expo[:, :n, 2 * n :] * dt_s**2).reshape(shape))


class FateSolver:
    """Advances the compartment masses of every tag over a step and reports the mass each transfer moved.

    Parameters
    ----------
    compartments
        Names of the compartments in state order (``air_0 .. air_{L-1}`` then surface compartments).
    shape
        ``(J, I)`` of the grid.
    """

    def __init__(self, compartments: tuple[str, ...], shape: tuple[int, int]):
        self.compartments = compartments
        self.shape = shape
        self._key: tuple | None = None
        self._prop: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._resolved: list[tuple[Transfer, np.ndarray]] = []
        self.k_matrix: np.ndarray | None = None
        self._ones = np.ones((1, *shape))

    def update(self, transfers: list[Transfer], key: object) -> None:
        """Rebuild K from ``transfers`` when ``key`` (met record, chemical) changed; propagators are recomputed lazily."""
        if key == self._key and self.k_matrix is not None:
            return
        self.k_matrix, self._resolved = assemble_rate_matrix(transfers, self.compartments, self.shape)
        keys: list[tuple[str, str, str]] = []
        for tr, _ in self._resolved:
            if (tr.process, tr.source, tr.target) not in keys:
                keys.append((tr.process, tr.source, tr.target))
        #: ``(process, source, target)`` of every distinct transfer, in the row order of :attr:`transfer_rates_s`
        self.transfer_keys = tuple(keys)
        #: declared output kind of every distinct transfer (``None``: not declared)
        self.transfer_kinds = {(tr.process, tr.source, tr.target): tr.kind for tr, _ in self._resolved}
        #: (K, J, I) rate constant of every distinct transfer (s-1; transfers with one key added up)
        self.transfer_rates_s = np.zeros((len(keys), *self.shape))
        for tr, rate in self._resolved:
            self.transfer_rates_s[keys.index((tr.process, tr.source, tr.target))] += rate
        self._transfer_source = np.array([self.compartments.index(k[1]) for k in keys], dtype=np.int64)
        #: (J, I, C) rate of loss out of the system of every compartment (s-1): the sinks' rates added up
        self.loss_s = np.zeros((*self.shape, len(self.compartments)))
        for tr, rate in self._resolved:
            if tr.target not in self.compartments:
                self.loss_s[:, :, self.compartments.index(tr.source)] += rate
        self._key = key
        self._prop_cache: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def step(
        self,
        air_kg: np.ndarray,
        surface_kg: np.ndarray,
        emission_kg_s: np.ndarray,
        tag_weights: np.ndarray | None,
        dt_s: float,
        integral_air_kg_s: np.ndarray,
        integral_surface_kg_s: np.ndarray,
    ) -> None:
        """Advance ``air_kg`` (T, L, J, I) and ``surface_kg`` (T, S, J, I) in place over ``dt_s``.

        ``emission_kg_s`` (1 or T, L + S, J, I) holds the emission rate into every compartment (kg s-1), constant
        over the step; tag ``t`` receives it times ``tag_weights[t]`` (``(T, J, I)`` shares; ``None``: ones), so
        that a field split among tags by fixed shares is never copied per tag. The time integrals of both states
        over the step (kg s) are added to ``integral_air_kg_s`` and ``integral_surface_kg_s``; the mass each
        transfer moved follows from them with :meth:`moved` (rates are constant until the next :meth:`update`,
        so integrals of many steps can be converted at once).
        """
        prop = self._propagators(emission_kg_s, air_kg.shape[0], dt_s)
        weights = self._ones if tag_weights is None else tag_weights
        apply_propagators(air_kg, surface_kg, emission_kg_s, weights, prop[0], prop[1], prop[2], integral_air_kg_s,
                          integral_surface_kg_s)

    def advance(
        self,
        air_kg: np.ndarray,
        surface_kg: np.ndarray,
        emission_kg_s: np.ndarray,
        tag_weights: np.ndarray | None,
        dt_s: float,
        start_air_kg: np.ndarray,
        start_surface_kg: np.ndarray,
    ) -> None:
        """Advance the state exactly as :meth:`step` does, but add the state at the start of the step to
        ``start_air_kg`` and ``start_surface_kg`` (float64, shaped like the state) instead of its time integral:
        :meth:`integrate` turns such sums over a span of steps with one ``dt_s``, one K (no :meth:`update` with a
        new key in between) and one ``tag_weights`` into the span's time integrals at the cost of one step's
        integral (the integral is linear in the start states and emissions)."""
        prop = self._propagators(emission_kg_s, air_kg.shape[0], dt_s)
        weights = self._ones if tag_weights is None else tag_weights
        advance_propagators(air_kg, surface_kg, emission_kg_s, weights, prop[0], prop[1], start_air_kg,
                            start_surface_kg)

    def integrate(
        self,
        dt_s: float,
        start_air_kg: np.ndarray,
        start_surface_kg: np.ndarray,
        emission_sum_kg_s: np.ndarray,
        tag_weights: np.ndarray | None,
        integral_air_kg_s: np.ndarray,
        integral_surface_kg_s: np.ndarray,
    ) -> None:
        """The time integrals (kg s) of a span of :meth:`advance` steps of length ``dt_s``: ``Psi sum_k X0_k +
        Gamma sum_k E_k`` from the sums of their start states and of their emission rates ``emission_sum_kg_s``
        (kg s-1, summed over the steps, shaped like the rates), written to ``integral_air_kg_s`` and
        ``integral_surface_kg_s`` (which may be the start sums themselves: they are overwritten)."""
        prop = self._propagators(emission_sum_kg_s, start_air_kg.shape[0], dt_s)
        weights = self._ones if tag_weights is None else tag_weights
        integrate_start_sums(start_air_kg, start_surface_kg, emission_sum_kg_s, weights, prop[1], prop[2],
                             integral_air_kg_s, integral_surface_kg_s)

    def _propagators(self, emission_kg_s: np.ndarray, ntag: int, dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Check the emission rates' shape and return Phi, Psi, Gamma for ``dt_s`` (computed once per K and step
        length)."""
        if self.k_matrix is None:
            raise FateError("FateSolver.update must be called before step")
        ncomp = len(self.compartments)
        if emission_kg_s.ndim != 4 or emission_kg_s.shape[1:] != (ncomp, *self.shape) or emission_kg_s.shape[0] not in (
            1,
            ntag,
        ):
            raise FateError(
                f"emission rates have shape {emission_kg_s.shape}; expected (1 or {ntag}, {ncomp}, "
                f"{self.shape[0]}, {self.shape[1]})"
            )
        prop = self._prop_cache.get(dt_s)
        if prop is None:
            # longitude innermost: the kernel's loops over a row then run over contiguous memory
            prop = propagators_by_row(self.k_matrix, dt_s, self.loss_s)
            if len(self._prop_cache) > 4:
                self._prop_cache.clear()
            self._prop_cache[dt_s] = prop
        return prop

    def moved(self, integral_air_kg_s: np.ndarray, integral_surface_kg_s: np.ndarray) -> dict[tuple[str, str, str], np.ndarray]:
        """Mass moved by every transfer, ``(process, source, target) -> (T, J, I)`` kg, from state time integrals.

        Exact: a first-order transfer at constant rate k moves ``k * integral(X_source dt)``.
        """
        nk, nt = len(self.transfer_keys), integral_air_kg_s.shape[0]
        full = np.zeros((nk, nt, *self.shape))
        slots = np.arange(nk)
        self.add_moved(slots, slots, integral_air_kg_s, integral_surface_kg_s, np.zeros((nk, nt)),
                       np.zeros((nk, *self.shape)), full)
        return dict(zip(self.transfer_keys, full))

    def add_moved(
        self,
        slots: np.ndarray,
        full_slots: np.ndarray,
        integral_air_kg_s: np.ndarray,
        integral_surface_kg_s: np.ndarray,
        tag_total_kg: np.ndarray,
        cell_total_kg: np.ndarray,
        full_kg: np.ndarray,
    ) -> None:
        """Add the mass each transfer ``k`` of :attr:`transfer_keys` moved to ``tag_total_kg[slots[k]]`` (per tag,
        ``(K', T)``), ``cell_total_kg[slots[k]]`` (summed over tags, ``(K', J, I)``) and, where ``full_slots[k] >=
        0``, ``full_kg[full_slots[k]]`` (per tag and cell, ``(K'', T, J, I)``): one pass, no temporaries."""
        accumulate_transfers(np.asarray(slots, dtype=np.int64), np.asarray(full_slots, dtype=np.int64),
                             self.transfer_rates_s, self._transfer_source, integral_air_kg_s, integral_surface_kg_s,
                             tag_total_kg, cell_total_kg, full_kg)

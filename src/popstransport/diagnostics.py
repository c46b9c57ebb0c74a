"""Mass budget bookkeeping and state checks (NaN, negativity).

Budget identity per tag and period (kg):

    initial burden + emitted + inflow = final burden + degraded + buried + leached + settled + outflow

Transfers between compartments (deposition, re-volatilisation) move mass inside the system and appear as their own
terms for information. The closure error is the difference of the two sides; the relative closure error divides it
by the left-hand side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SINK_TERMS = ("degraded", "buried", "leached", "settled")


class StateError(RuntimeError):
    """The model state became invalid (NaN, infinite or significantly negative mass)."""


@dataclass
class PeriodBudget:
    """Budget terms of one output period, per tag (arrays of shape (T,), kg)."""

    compartments: tuple[str, ...]
    ntag: int
    burden_start: dict[str, np.ndarray] = field(default_factory=dict)
    burden_end: dict[str, np.ndarray] = field(default_factory=dict)
    emitted: dict[str, np.ndarray] = field(default_factory=dict)
    sinks: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    transfers: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    inflow: np.ndarray | None = None
    outflow: np.ndarray | None = None

    def __post_init__(self) -> None:
        z = np.zeros(self.ntag)
        self.inflow = z.copy()
        self.outflow = z.copy()
        for c in self.compartments:
            self.emitted[c] = z.copy()

    def add_emission(self, compartment: str, kg_per_tag: np.ndarray) -> None:
        self.emitted[compartment] += kg_per_tag

    def add_moved(self, process: str, source: str, target: str, kg_per_tag: np.ndarray) -> None:
        if target in SINK_TERMS:
            key = (target, source)
            self.sinks[key] = self.sinks.get(key, 0.0) + kg_per_tag
        else:
            k3 = (process, source, target)
            self.transfers[k3] = self.transfers.get(k3, 0.0) + kg_per_tag

    def totals(self) -> dict[str, np.ndarray]:
        """Per-tag totals of each side of the identity and the closure error."""
        z = np.zeros(self.ntag)
        start = sum((self.burden_start[c] for c in self.compartments), z.copy())
        end = sum((self.burden_end[c] for c in self.compartments), z.copy())
        emitted = sum(self.emitted.values(), z.copy())
        sinks = sum(self.sinks.values(), z.copy())
        lhs = start + emitted + self.inflow
        rhs = end + sinks + self.outflow
        return {"lhs": lhs, "rhs": rhs, "error": lhs - rhs}

    def relative_closure_error(self) -> float:
        """|lhs - rhs| / lhs summed over tags (0 when nothing is in the system)."""
        t = self.totals()
        lhs = float(np.sum(t["lhs"]))
        err = float(np.sum(t["lhs"]) - np.sum(t["rhs"]))
        return abs(err) / lhs if lhs > 0 else abs(err)

    def rows(self) -> dict[str, float]:
        """Flat mapping of term name to kg summed over tags, in a stable order, for tables."""
        out: dict[str, float] = {}
        for c in self.compartments:
            out[f"burden_start_{c}_kg"] = float(np.sum(self.burden_start[c]))
        for c in self.compartments:
            out[f"burden_end_{c}_kg"] = float(np.sum(self.burden_end[c]))
        for c in self.compartments:
            out[f"emitted_{c}_kg"] = float(np.sum(self.emitted[c]))
        out["inflow_kg"] = float(np.sum(self.inflow))
        out["outflow_kg"] = float(np.sum(self.outflow))
        for (sink, comp), v in sorted(self.sinks.items()):
            out[f"{sink}_{comp}_kg"] = float(np.sum(v))
        for (proc, src, dst), v in sorted(self.transfers.items()):
            out[f"{proc}_{src}_to_{dst}_kg"] = float(np.sum(v))
        t = self.totals()
        out["closure_error_kg"] = float(np.sum(t["error"]))
        out["relative_closure_error"] = self.relative_closure_error()
        return out


def check_state(name: str, array: np.ndarray, reference_kg: float, when: str) -> None:
    """Raise :class:`StateError` if ``array`` has NaN/inf, or values below -1e-9 x ``reference_kg``.

    Round-off may leave values a few ulps below zero; anything larger is a real error. The message names the
    compartment, the time and the index (tag, ..., lat, lon) of the worst value.
    """
    if not np.all(np.isfinite(array)):
        idx = tuple(int(v) for v in np.argwhere(~np.isfinite(array))[0])
        raise StateError(f"{name} is not finite at index {idx} (tag, ..., lat, lon) at {when}; check the inputs")
    floor = -1e-9 * max(reference_kg, 1e-300)
    worst = float(array.min()) if array.size else 0.0
    if worst < floor:
        idx = tuple(int(v) for v in np.unravel_index(int(np.argmin(array)), array.shape))
        raise StateError(
            f"{name} is negative ({worst:.3e} kg) at index {idx} (tag, ..., lat, lon) at {when}; "
            "reduce time.step_hours or report this as a bug"
        )

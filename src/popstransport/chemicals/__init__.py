"""Chemical property database, temperature dependence of partition coefficients and degradation rates.

Public API::

    get_chemical(name, overrides=None, *, files=(), triangle="as_tabulated") -> ChemicalProperties
    load_chemicals(path) -> dict[str, ChemicalProperties]
    list_chemicals() -> list[str]
    format_chemical(props) -> str;  format_table(names=None) -> str
    van_t_hoff(value_ref, du_j_mol, temperature_k);  arrhenius(rate_ref, ea_j_mol, temperature_k)

See :mod:`popstransport.chemicals.database` for the file format, the derivations made on loading and how the
known problems of the source data (sign of dU_oa for DDT/DDE, the open Kaw/Kow/Koa triangle) are handled.
"""

from .database import (
    MEDIA,
    PARAMETERS,
    REFERENCE_OH_MOLEC_CM3,
    TRIANGLE_POLICIES,
    ChemicalError,
    ChemicalProperties,
    TrianglePolicy,
    builtin_database_path,
    format_chemical,
    format_table,
    get_chemical,
    list_chemicals,
    load_chemicals,
    normalise_name,
    resolve_name,
)
from .temperature import arrhenius, log10_van_t_hoff, van_t_hoff

__all__ = [
    "MEDIA",
    "PARAMETERS",
    "REFERENCE_OH_MOLEC_CM3",
    "TRIANGLE_POLICIES",
    "ChemicalError",
    "ChemicalProperties",
    "TrianglePolicy",
    "arrhenius",
    "builtin_database_path",
    "format_chemical",
    "format_table",
    "get_chemical",
    "list_chemicals",
    "load_chemicals",
    "log10_van_t_hoff",
    "normalise_name",
    "resolve_name",
    "van_t_hoff",
]

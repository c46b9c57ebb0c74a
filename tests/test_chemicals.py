"""Chemical property database: contents, citations, lookup, overrides, user files, temperature dependence."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from popstransport.chemicals import (
    MEDIA,
    ChemicalError,
    arrhenius,
    builtin_database_path,
    format_chemical,
    format_table,
    get_chemical,
    list_chemicals,
    load_chemicals,
    van_t_hoff,
)

REQUIRED = [
    "PCB-28", "PCB-52", "PCB-101", "PCB-118", "PCB-138", "PCB-153", "PCB-180", "HCB", "alpha-HCH", "gamma-HCH",
    "p,p'-DDT", "p,p'-DDE", "2,3,7,8-TCDD", "benzo[a]pyrene", "BDE-47",
]  # fmt: skip


def test_every_required_substance_is_in_the_database():
    names = list_chemicals()
    for n in REQUIRED:
        assert n in names
        p = get_chemical(n)
        assert p.name == n


def test_every_number_in_the_shipped_file_has_a_citation():
    path = builtin_database_path()
    assert path.name == "chemicals.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {"substance", "cas", "parameter", "value", "unit", "citation"} <= set(rows[0])
    numeric = [r for r in rows if r["parameter"] != "aliases"]
    assert len(numeric) > 250
    for r in numeric:
        float(r["value"])
        assert r["citation"].strip(), r


def test_every_property_of_every_substance_has_a_citation():
    for n in REQUIRED:
        p = get_chemical(n)
        cited = dict(p.citations)
        for par in ("molar_mass", "log_kaw", "log_kow", "log_koa", "du_aw", "du_ow", "du_oa", "k_oh"):
            assert cited[par]
        for m in MEDIA:
            assert cited[f"half_life_{m}"] and cited[f"ea_{m}"]


def test_values_match_the_reference_table():
    p = get_chemical("PCB-153")
    assert p.log_kaw_298 == -2.13 and p.log_kow_298 == 7.31 and p.log_koa_298 == 9.45
    assert p.du_oa_j_mol == -91600 and p.du_aw_j_mol == pytest.approx(71600)
    assert p.molar_mass_kg_mol == pytest.approx(0.3608784)
    assert p.k_oh_298_cm3_s == 1.64e-13
    g = get_chemical("gamma-HCH")
    assert g.half_life_soil_h == 409 and g.ea_soil_j_mol == 87747


@pytest.mark.parametrize("alias", ["DDT", "ddt", "p,p'-DDT", "pp-DDT", "4,4'-DDT", "50-29-3", "P,P' DDT"])
def test_aliases_resolve(alias):
    assert get_chemical(alias).name == "p,p'-DDT"


@pytest.mark.parametrize(
    "alias,name",
    [("lindane", "gamma-HCH"), ("γ-HCH", "gamma-HCH"), ("BaP", "benzo[a]pyrene"), ("benzo(a)pyrene", "benzo[a]pyrene"),
     ("PCB153", "PCB-153"), ("pcb 28", "PCB-28"), ("hexachlorobenzene", "HCB"), ("TCDD", "2,3,7,8-TCDD")],
)  # fmt: skip
def test_more_aliases(alias, name):
    assert get_chemical(alias).name == name


def test_unknown_chemical_lists_names_and_nearest_match():
    with pytest.raises(ChemicalError, match=r"unknown chemical 'PCB-135'.*Did you mean 'PCB-153'.*Valid names: PCB-28"):
        get_chemical("PCB-135")
    with pytest.raises(ChemicalError, match="Did you mean 'alpha-HCH'"):
        get_chemical("alpha-HHC")


def test_ddt_dde_internal_energy_sign_is_corrected_and_koa_rises_in_cold_air():
    for n in ("p,p'-DDT", "p,p'-DDE"):
        p = get_chemical(n)
        assert p.du_oa_j_mol < 0
        assert "sign-corrected" in p.citation("du_oa")
        assert p.koa(253.15) > p.koa(298.15)
        assert p.kaw(253.15) < p.kaw(298.15)
    assert get_chemical("DDT").du_oa_j_mol == pytest.approx(-87871)
    assert get_chemical("DDE").du_oa_j_mol == pytest.approx(-97940)


def test_wrong_sign_is_rejected_with_an_explanation():
    with pytest.raises(ChemicalError, match="du_oa = 87871 J/mol is positive.*flip the sign"):
        get_chemical("DDT", overrides={"du_oa": 87871})
    with pytest.raises(ChemicalError, match="du_aw .* is negative"):
        get_chemical("PCB-28", overrides={"du_aw": -1000.0, "du_oa": -77600})


def test_internal_energies_always_close():
    for n in REQUIRED:
        p = get_chemical(n)
        assert p.du_aw_j_mol == pytest.approx(p.du_ow_j_mol - p.du_oa_j_mol, abs=1e-6)
        # hence Koa Kaw / Kow is independent of temperature
        r = [math.log10(p.koa(t) * p.kaw(t) / p.kow(t)) for t in (253.15, 273.15, 298.15)]
        assert np.ptp(r) < 1e-9
        assert r[0] == pytest.approx(p.triangle_residual_log, abs=1e-9)


def test_triangle_policies():
    bap = get_chemical("benzo[a]pyrene")
    assert bap.triangle == "as_tabulated"
    assert bap.triangle_residual_log == pytest.approx(0.88, abs=1e-9)
    closed = get_chemical("BaP", triangle="close_kow")
    assert closed.triangle_residual_log == pytest.approx(0.0, abs=1e-12)
    assert closed.log_kow_298 == pytest.approx(11.56 - 4.69)
    assert closed.log_koa_298 == bap.log_koa_298 and closed.log_kaw_298 == bap.log_kaw_298
    assert "triangle close_kow" in closed.citation("log_kow")
    k = get_chemical("BaP", triangle="close_koa")
    assert k.log_koa_298 == pytest.approx(5.99 + 4.69)
    w = get_chemical("BaP", triangle="close_kaw")
    assert w.log_kaw_298 == pytest.approx(5.99 - 11.56)
    with pytest.raises(ChemicalError, match="triangle policy 'closed'"):
        get_chemical("BaP", triangle="closed")  # type: ignore[arg-type]


def test_open_triangles_are_the_documented_ones():
    open_ = {n for n in REQUIRED if abs(get_chemical(n).triangle_residual_log) > 0.05}
    assert open_ == {"PCB-52", "PCB-101", "PCB-118", "PCB-138", "PCB-180", "2,3,7,8-TCDD", "benzo[a]pyrene", "BDE-47"}


def test_overrides_and_rederivation():
    p = get_chemical("PCB-28", overrides={"log_kow": 6.0, "half_life_soil": 1000.0})
    assert p.log_kow_298 == 6.0 and p.half_life_soil_h == 1000.0
    assert p.citation("log_kow") == "user override"
    q = get_chemical("PCB-28", overrides={"du_oa": -70000})
    assert q.du_ow_j_mol == -20000 and q.du_aw_j_mol == pytest.approx(50000)
    r = get_chemical("PCB-28", overrides={"du_aw": 60000})
    assert r.du_oa_j_mol == -77600 and r.du_ow_j_mol == pytest.approx(-17600)
    # field names in field units
    s = get_chemical("PCB-28", overrides={"molar_mass_kg_mol": 0.3})
    assert s.molar_mass_kg_mol == pytest.approx(0.3)
    # a derived k_OH follows an overridden air half-life
    t = get_chemical("PCB-52", overrides={"half_life_air": 536.0})
    assert t.k_oh_298_cm3_s == pytest.approx(get_chemical("PCB-52").k_oh_298_cm3_s / 2)
    # a tabulated k_OH follows an overridden air half-life too (the gridded model uses k_OH), and the other way
    # round; both given, both kept
    ln2 = math.log(2.0)
    v = get_chemical("PCB-153", overrides={"half_life_air": 1000.0})
    assert "derived" not in get_chemical("PCB-153").citation("k_oh")  # (tabulated)
    assert v.k_oh_298_cm3_s == pytest.approx(ln2 / (1000.0 * 3600.0 * 1e6), rel=1e-12)
    assert "derived" in v.citation("k_oh") and v.citation("half_life_air") == "user override"
    w = get_chemical("HCB", overrides={"k_oh_298_cm3_s": 1e-13})
    assert w.half_life_air_h == pytest.approx(ln2 / (1e-13 * 1e6) / 3600.0, rel=1e-12)
    x = get_chemical("HCB", overrides={"k_oh": 1e-13, "half_life_air": 5.0})
    assert x.k_oh_298_cm3_s == 1e-13 and x.half_life_air_h == 5.0
    # with_overrides on an existing object
    u = get_chemical("HCB").with_overrides({"log_kow": 5.73})
    assert u.log_koa_298 == pytest.approx(5.73 + 1.57)  # HCB's Koa is derived, so it follows Kow


def test_override_errors():
    with pytest.raises(ChemicalError, match="override 'log_kwo' .* did you mean 'log_kow'"):
        get_chemical("HCB", overrides={"log_kwo": 5.0})
    with pytest.raises(ChemicalError, match="is not a number"):
        get_chemical("HCB", overrides={"log_kow": "high"})
    with pytest.raises(ChemicalError, match="half_life_soil must be positive"):
        get_chemical("HCB", overrides={"half_life_soil": 0.0})


def test_user_file_adds_a_substance_and_overrides_values(tmp_path, capsys):
    f = tmp_path / "mine.csv"
    f.write_text(
        "substance,cas,parameter,value,unit,citation\n"
        "Mirex,2385-85-5,molar_mass,545.5,g/mol,my lab book p. 3\n"
        "Mirex,2385-85-5,log_kaw,-1.5,-,my lab book p. 3\n"
        "Mirex,2385-85-5,log_kow,6.9,-,\n"
        "Mirex,2385-85-5,du_oa,-90,kJ/mol,x\n"
        "Mirex,2385-85-5,du_ow,-20,kJ/mol,x\n"
        "Mirex,2385-85-5,half_life_air,30,d,x\n"
        "Mirex,2385-85-5,half_life_soil,10,yr,x\n"
        "Mirex,2385-85-5,half_life_ocean,5,yr,x\n"
        "Mirex,2385-85-5,aliases,dodecachlor,-,\n"
        "PCB153,,log_kow,6.86,-,Schenker et al. 2005 via CliMoChem\n"
    )
    chems = load_chemicals(f)
    m = chems["Mirex"]
    assert m.log_koa_298 == pytest.approx(8.4)
    assert m.du_oa_j_mol == -90000 and m.du_aw_j_mol == pytest.approx(70000)
    assert m.half_life_air_h == 720 and m.half_life_soil_h == 87600
    assert m.half_life_vegetation_h == m.half_life_soil_h and "assumed" in m.citation("half_life_vegetation")
    assert m.citation("log_kow") == f"user file {f}"
    assert m.ea_soil_j_mol == 0.0
    assert chems["PCB-153"].log_kow_298 == 6.86
    assert chems["PCB-153"].log_koa_298 == 9.45
    assert get_chemical("dodecachlor", files=[f]).name == "Mirex"
    assert get_chemical("PCB-153", files=[f]).log_kow_298 == 6.86
    # `popstransport chemicals --file F` lists the file's substances and values with the built-in ones
    from popstransport.cli import main

    assert main(["chemicals", "--file", str(f)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:-1]}
    assert "Mirex" in rows and float(rows["PCB-153"][4]) == 6.86 and "HCB" in rows
    assert main(["screen", "Mirex", "--file", str(f)]) == 0  # (a user substance screened from the command line)
    assert "Mirex" in capsys.readouterr().out


def test_negative_half_life_names_the_value_given(tmp_path):
    """The vegetation half-life is taken from soil when not given: a negative soil value is named as such."""
    f = tmp_path / "mine.csv"
    f.write_text(
        "substance,cas,parameter,value,unit,citation\n"
        "Mirex,2385-85-5,molar_mass,545.5,g/mol,x\n"
        "Mirex,2385-85-5,log_kaw,-1.5,-,x\n"
        "Mirex,2385-85-5,log_kow,6.9,-,x\n"
        "Mirex,2385-85-5,du_oa,-90,kJ/mol,x\n"
        "Mirex,2385-85-5,du_ow,-20,kJ/mol,x\n"
        "Mirex,2385-85-5,half_life_air,30,d,x\n"
        "Mirex,2385-85-5,half_life_soil,-5,d,x\n"
        "Mirex,2385-85-5,half_life_ocean,5,yr,x\n"
    )
    with pytest.raises(ChemicalError, match=r"chemical 'Mirex': half_life_soil must be positive"):
        load_chemicals(f)


def test_user_file_with_byte_order_mark_or_not_utf8(tmp_path):
    f = tmp_path / "mine.csv"
    # (a spreadsheet's byte-order mark hid the 'substance' column: "needs the columns ... found ['\ufeffsubstance', ...]")
    f.write_bytes("\ufeffsubstance,parameter,value,unit\nPCB-153,log_kow,6.86,-\n".encode())
    assert get_chemical("PCB-153", files=[f]).log_kow_298 == 6.86
    f.write_bytes("substance,parameter,value,unit,citation\nPCB-153,log_kow,6.86,-,Sch\u00e4fer\n".encode("latin-1"))
    with pytest.raises(ChemicalError, match=r"mine\.csv: line 2: byte 0xe4 at column 27 is not UTF-8 .*Fix: save it as "
                       r"UTF-8 \('CSV UTF-8' in a spreadsheet\), or convert it, e\.g\. iconv -f latin1 -t utf-8 mine\.csv > "
                       r"converted\.csv"):
        load_chemicals(f)


def test_user_file_errors(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("name,value\nx,1\n")
    with pytest.raises(ChemicalError, match="needs the columns"):
        load_chemicals(f)
    f.write_text("substance,parameter,value,unit\nX,log_kwo,5,-\n")
    with pytest.raises(ChemicalError, match="unknown parameter 'log_kwo'; did you mean 'log_kow'"):
        load_chemicals(f)
    f.write_text("substance,parameter,value,unit\nX,half_life_soil,5,weeks\n")
    with pytest.raises(ChemicalError, match="unit 'weeks'"):
        load_chemicals(f)
    f.write_text("substance,parameter,value,unit\nX,molar_mass,100,g/mol\nX,log_kow,5,-\n")
    with pytest.raises(ChemicalError, match="needs two of the internal energies"):
        load_chemicals(f)


MIREX = {
    "molar_mass": "545.5,g/mol", "log_kaw": "-1.5,-", "log_kow": "6.9,-", "du_oa": "-90,kJ/mol", "du_ow": "-20,kJ/mol",
    "half_life_air": "30,d", "half_life_soil": "10,yr", "half_life_ocean": "5,yr",
}  # fmt: skip


@pytest.mark.parametrize("change, match", [
    ({"molar_mass": "-545.5,g/mol"}, r"chemical 'Mirex': molar mass -0\.5455 kg/mol must be positive"),
    ({"ea_soil": "-10,kJ/mol"}, r"chemical 'Mirex': activation energy ea_soil must be >= 0 J/mol"),
    ({"half_life_air": None}, r"chemical 'Mirex': needs k_oh \(cm3/\(molecule s\)\) or half_life_air \(h\)"),
    ({"half_life_soil": None}, r"chemical 'Mirex': needs half_life_soil \(h\)"),
    ({"half_life_ocean": None}, r"chemical 'Mirex': needs half_life_ocean or half_life_freshwater \(h\)"),
    ({"molar_mass": None}, r"chemical 'Mirex': needs molar_mass \(g/mol\)"),
    ({"log_kaw": None}, r"chemical 'Mirex': needs at least two of log_kaw, log_kow, log_koa; has \['log_kow'\]"),
    ({"k_oh": "-1e-12,cm3/(molecule s)"}, r"chemical 'Mirex': k_oh must be >= 0 cm3 molecule-1 s-1"),
])
def test_user_substance_errors(tmp_path, change, match):
    """A user substance with a non-positive molar mass, a negative activation energy or k_OH, or without molar mass,
    two partition coefficients, or an air, soil or water half-life is refused, naming the substance and the
    parameter."""
    with pytest.raises(ChemicalError, match=match):
        load_chemicals(_mirex_file(tmp_path, {**MIREX, **change}))
    assert load_chemicals(_mirex_file(tmp_path))["Mirex"].half_life_ocean_h == 5 * 8760


def _mirex_file(tmp_path, params=MIREX):
    """A user property file of the substance Mirex with ``params`` (parameter: "value,unit"; None leaves it out)."""
    f = tmp_path / "mirex.csv"
    f.write_text("substance,parameter,value,unit\n" + "".join(f"Mirex,{k},{v}\n" for k, v in params.items() if v))
    return f


def test_internal_energies_that_do_not_close_and_numbers_without_citation_are_refused(tmp_path):
    import dataclasses

    from popstransport.chemicals.database import _read_csv

    p = get_chemical("PCB-28")
    with pytest.raises(ChemicalError, match=r"internal energies do not close: du_aw = 60000 but du_ow - du_oa = 57600"):
        dataclasses.replace(p, du_aw_j_mol=60000.0)
    assert dataclasses.replace(p, du_aw_j_mol=57600.5).du_aw_j_mol == 57600.5  # within 1 J/mol
    with pytest.raises(ChemicalError, match=r"chemical 'PCB-28': log_kow_298 = nan must be a finite number"):
        dataclasses.replace(p, log_kow_298=float("nan"))
    with pytest.raises(ChemicalError, match=r"chemical 'PCB-28': triangle policy 'closed'; allowed are \["):
        dataclasses.replace(p, triangle="closed")
    with pytest.raises(ChemicalError, match=r"^triangle policy 'closed'; allowed are \["):
        load_chemicals(_mirex_file(tmp_path), triangle="closed")
    f = tmp_path / "uncited.csv"
    f.write_text("substance,parameter,value,unit,citation\nMirex,molar_mass,545.5,g/mol,\n")
    with pytest.raises(ChemicalError, match=r"'molar_mass' of 'Mirex' has no citation; every number needs one"):
        _read_csv(f)


# --- temperature dependence: hand-computed values at 253.15, 273.15 and 298.15 K -----------------------------
# log K(T) = log K(298.15) + dU / (R ln 10) (1/298.15 - 1/T), R = 8.314462618 J mol-1 K-1.
# PCB-28 (dU_aw 57.6, dU_oa -77.6, dU_ow -20.0 kJ/mol), alpha-HCH (56.8, -61.9, -5.1 kJ/mol).
HAND = {
    ("PCB-28", 253.15): (-3.7238, 10.2766, 6.5428),
    ("PCB-28", 273.15): (-2.8536, 9.1043, 6.2407),
    ("PCB-28", 298.15): (-1.93, 7.86, 5.92),
    ("alpha-HCH", 253.15): (-5.2889, 9.3877, 4.0988),
    ("alpha-HCH", 273.15): (-4.4308, 8.4525, 4.0218),
    ("alpha-HCH", 298.15): (-3.52, 7.46, 3.94),
}


@pytest.mark.parametrize("key", sorted(HAND))
def test_partition_coefficients_at_three_temperatures(key):
    name, t = key
    p = get_chemical(name)
    kaw, koa, kow = HAND[key]
    assert math.log10(p.kaw(t)) == pytest.approx(kaw, abs=2e-4)
    assert math.log10(p.koa(t)) == pytest.approx(koa, abs=2e-4)
    assert math.log10(p.kow(t)) == pytest.approx(kow, abs=2e-4)


# k(T) = ln2 / t1/2 exp[Ea/R (1/298.15 - 1/T)]; PCB-28 soil 55000 h, 30 kJ/mol; alpha-HCH soil 14000 h,
# 30 kJ/mol, ocean 3500 h, 107.29 kJ/mol; alpha-HCH k_OH 1.4e-13 cm3 s-1, 11.2 kJ/mol.
RATES = {
    253.15: dict(pcb_soil=4.0728e-10, hch_soil=1.6000e-09, hch_ocean=2.5073e-11, hch_oh=6.2710e-14),
    273.15: dict(pcb_soil=1.1564e-09, hch_soil=4.5432e-09, hch_ocean=1.0474e-09, hch_oh=9.2585e-14),
    298.15: dict(pcb_soil=3.5007e-09, hch_soil=1.3753e-08, hch_ocean=5.5012e-08, hch_oh=1.4000e-13),
}


@pytest.mark.parametrize("t", sorted(RATES))
def test_degradation_rates_at_three_temperatures(t):
    pcb, hch = get_chemical("PCB-28"), get_chemical("alpha-HCH")
    exp = RATES[t]
    assert pcb.degradation_rate_s("soil", t) == pytest.approx(exp["pcb_soil"], rel=1e-4)
    assert hch.degradation_rate_s("soil", t) == pytest.approx(exp["hch_soil"], rel=1e-4)
    assert hch.degradation_rate_s("ocean", t) == pytest.approx(exp["hch_ocean"], rel=1e-4)
    assert hch.oh_rate_constant_cm3_s(t) == pytest.approx(exp["hch_oh"], rel=1e-4)


def test_temperature_functions_broadcast_over_cells():
    p = get_chemical("PCB-153")
    t = np.array([[253.15, 273.15], [298.15, 310.0]])
    k = p.koa(t)
    assert k.shape == (2, 2)
    assert k[1, 0] == pytest.approx(10**9.45)
    assert np.all(np.diff(k.ravel()) < 0)
    assert p.degradation_rate_s("soil", t).shape == (2, 2)
    assert van_t_hoff(2.0, 0.0, t).shape == (2, 2)
    assert arrhenius(1.0, 50000.0, 298.15) == 1.0
    with pytest.raises(ValueError, match="temperature must be finite and positive"):
        van_t_hoff(1.0, 1.0, np.array([0.0]))
    with pytest.raises(ChemicalError, match="degradation medium 'lake'"):
        p.degradation_rate_s("lake", 280.0)


def test_vapour_pressure_only_where_known():
    p = get_chemical("PCB-28")
    assert p.vapour_pressure_liquid_pa(298.15) == pytest.approx(0.027)
    assert p.vapour_pressure_liquid_pa(273.15) < 0.027 / 5
    with pytest.raises(ChemicalError, match="no liquid vapour pressure .* Harner-Bidleman"):
        get_chemical("HCB").vapour_pressure_liquid_pa(280.0)


def test_vapour_pressure_and_henry_constant_at_lower_temperatures():
    """Clausius-Clapeyron with the enthalpy of vaporisation -dU_oa + R T_ref = 77.6 + 2.48 = 80.08 kJ/mol for PCB-28
    (p_L 0.027 Pa at 298.15 K): by hand 1.4039e-3 Pa at 273.15 K and 8.660e-5 Pa at 253.15 K. Henry's law constant
    H = Kaw R T at the temperature itself: Kaw(273.15 K) = 1.40093e-3 gives 3.1816 Pa m3 mol-1."""
    p = get_chemical("PCB-28")
    assert p.vapour_pressure_liquid_pa(273.15) == pytest.approx(1.4039e-3, rel=1e-4)
    assert p.vapour_pressure_liquid_pa(253.15) == pytest.approx(8.660e-5, rel=1e-4)
    assert p.kaw(273.15) == pytest.approx(1.40093e-3, rel=1e-4)
    assert p.henry_pa_m3_mol(273.15) == pytest.approx(3.1816, rel=1e-4)
    h = p.henry_pa_m3_mol(np.array([253.15, 298.15]))
    assert h == pytest.approx(p.kaw(np.array([253.15, 298.15])) * 8.314462618 * np.array([253.15, 298.15]), rel=1e-12)


def test_printing():
    text = format_chemical(get_chemical("alpha-HCH"))
    assert "alpha-HCH" in text and "BETR-Research 3.0" in text and "253.15 K" in text
    table = format_table()
    for n in REQUIRED:
        assert n in table


@pytest.mark.parametrize("overrides", [{"log_koa": 40.0}, {"log_kow": 2.9e6}, {"log_kaw": -30.0}])
def test_absurd_partition_coefficients_are_refused(overrides):
    # (log Koa = 40, or Kow given for log Kow, ran: the chemical never left the particles or never dissolved)
    with pytest.raises(ChemicalError, match=r"log_ko[aw]_298 = .* lies outside -20\.\.20|log_kaw_298 = -30 lies outside"):
        get_chemical("PCB-153", overrides)

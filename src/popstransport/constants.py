"""Physical constants in SI units, each with its source."""

#: Mean Earth radius (m), IUGG mean radius R1 (Moritz 2000, Geodetic Reference System 1980, J. Geodesy 74:128).
EARTH_RADIUS_M = 6_371_008.8

#: Molar gas constant (J mol-1 K-1), CODATA 2018 exact value (Tiesinga et al. 2021, Rev. Mod. Phys. 93:025010).
GAS_CONSTANT_J_MOL_K = 8.314462618

#: Standard gravity (m s-2), CGPM 1901 conventional value.
STANDARD_GRAVITY_M_S2 = 9.80665

#: Specific gas constant of dry air (J kg-1 K-1): R / M_dry with M_dry = 28.9647 g mol-1 (U.S. Standard Atmosphere 1976).
DRY_AIR_GAS_CONSTANT_J_KG_K = 287.05

#: Reference temperature of tabulated partition coefficients and rates (K), 25 degC.
REFERENCE_TEMPERATURE_K = 298.15

#: Standard sea-level pressure (Pa) (U.S. Standard Atmosphere 1976).
STANDARD_PRESSURE_PA = 101_325.0

#: Seconds per day and per (365-day) year.
SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 365.0 * SECONDS_PER_DAY

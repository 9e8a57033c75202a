"""Configuration of the interferogram simulator (pydantic v2).

Fields given as ``(low, high)`` are ranges: each scene draws its value uniformly from the range
(integers inclusive), so one config describes a wide distribution of scenes. Set ``low == high``
to fix a value. Defaults are deliberately wide so models trained on them generalise to real data.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fringenet.conventions import SENTINEL1_WAVELENGTH_M

TARGET_SCENARIOS = ("landslide", "rockglacier", "subsidence", "volcano", "earthquake", "mixed")
HARD_NEGATIVES = ("atmosphere_only", "decorrelated", "stratified")
Scenario = Literal[
    "landslide",
    "rockglacier",
    "subsidence",
    "volcano",
    "earthquake",
    "mixed",
    "atmosphere_only",
    "decorrelated",
    "stratified",
]

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Relief = Annotated[float, Field(ge=0.0, le=6000.0)]
DemSlope = Annotated[float, Field(ge=-5.0, le=-2.0)]
AtmSlope = Annotated[float, Field(ge=-4.0, le=-1.5)]
Cm = Annotated[float, Field(ge=0.0, le=20.0)]
CmPerKm = Annotated[float, Field(ge=0.0, le=20.0)]
Days = Annotated[float, Field(gt=0.0, le=5000.0)]
Incidence = Annotated[float, Field(ge=15.0, le=60.0)]
Heading = Annotated[float, Field(ge=-360.0, le=360.0)]
Looks = Annotated[int, Field(ge=1, le=200)]
Month = Annotated[int, Field(ge=1, le=12)]


class SimulationConfig(BaseModel):
    """Everything that defines a simulated interferogram or stack; the seed makes it reproducible."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # grid and scene
    height: int = Field(256, ge=16, le=8192, description="Raster height (pixels).")
    width: int = Field(256, ge=16, le=8192, description="Raster width (pixels).")
    pixel_size_m: float = Field(30.0, gt=1.0, le=1000.0, description="Pixel size (m), square pixels.")
    scenario: Scenario = Field(
        "mixed",
        description="Deformation scenario, or a hard negative without targets: 'atmosphere_only', "
        "'decorrelated' (very low coherence) or 'stratified' (strong DEM-correlated fringes, high relief).",
    )
    n_targets: int | None = Field(
        None,
        ge=0,
        le=50,
        description="Number of deformation targets; None lets the scenario decide, 0 = none.",
    )
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Random seed; the same seed gives identical output.")
    epsg: int = Field(32632, ge=1024, le=32767, description="EPSG code of the projected CRS of the grid.")
    origin_x_m: float = Field(500_000.0, description="Easting of the grid's upper-left corner (m).")
    origin_y_m: float = Field(5_100_000.0, description="Northing of the grid's upper-left corner (m).")

    # sensor and geometry
    wavelength_m: float = Field(SENTINEL1_WAVELENGTH_M, gt=0.005, lt=1.0, description="Radar wavelength (m).")
    incidence_deg: tuple[Incidence, Incidence] = Field(
        (29.0, 46.0), description="Range of the incidence angle (deg); Sentinel-1 IW spans about 29-46."
    )
    heading_deg: tuple[Heading, ...] = Field(
        (-12.0, -168.0),
        min_length=1,
        description="Candidate headings (deg clockwise from north), one is drawn and jittered by +-3 deg; "
        "Sentinel-1 ascending about -12, descending about -168.",
    )
    looks: tuple[Looks, Looks] = Field((3, 30), description="Range of the number of independent looks.")

    # terrain
    relief_m: tuple[Relief, Relief] = Field((50.0, 2500.0), description="Range of the DEM relief (m).")
    dem_spectral_slope: tuple[DemSlope, DemSlope] = Field(
        (-4.0, -3.2), description="Range of the DEM power-spectrum exponent."
    )
    valley_depth: tuple[Unit, Unit] = Field(
        (0.0, 0.6), description="Range of valley depth as a fraction of the relief (0 = no valleys)."
    )
    lake_fraction: tuple[Unit, Unit] = Field(
        (0.0, 0.05), description="Range of the area fraction of an extra random lake."
    )
    lake_probability: float = Field(
        0.3, ge=0.0, le=1.0, description="Probability that a scene has the extra lake."
    )

    # atmosphere
    turbulence_rms_cm: tuple[Cm, Cm] = Field(
        (0.1, 2.0), description="Range of the per-acquisition RMS turbulent delay (cm, one-way)."
    )
    turbulence_slope: tuple[AtmSlope, AtmSlope] = Field(
        (-3.0, -2.3), description="Range of the turbulence 2-D power-spectrum exponent (-8/3 = Kolmogorov)."
    )
    stratified_cm_per_km: tuple[CmPerKm, CmPerKm] = Field(
        (0.0, 2.0),
        description="Range of the standard deviation of the per-acquisition stratified-delay coefficient "
        "(cm of one-way delay per km of elevation).",
    )
    stratified_model: Literal["linear", "exponential", "random"] = Field(
        "random", description="Stratified delay model in elevation; 'random' draws one per scene."
    )

    # coherence
    gamma0: tuple[Unit, Unit] = Field((0.5, 0.97), description="Range of the short-baseline coherence.")
    gamma_inf: tuple[Unit, Unit] = Field((0.05, 0.5), description="Range of the long-term coherence (bare).")
    tau_days: tuple[Days, Days] = Field(
        (10.0, 300.0), description="Range of the coherence decay time (days)."
    )
    vegetation_fraction: tuple[Unit, Unit] = Field(
        (0.0, 0.6), description="Range of the vegetated area fraction."
    )
    coherence_randomness: tuple[Unit, Unit] = Field(
        (0.0, 0.5), description="Range of the strength of the random coherence texture."
    )
    decorrelation_threshold: float = Field(
        0.2, ge=0.0, le=1.0, description="Coherence below which a pixel counts as decorrelated."
    )

    # labels
    visibility_threshold_rad: float = Field(
        1.5707963267948966,
        gt=0.0,
        le=100.0,
        description="Minimum |LOS deformation phase| of a pair (rad) for a target pixel to be labelled.",
    )

    # acquisitions
    n_dates: int = Field(20, ge=2, le=1000, description="Number of acquisition dates of a stack.")
    revisit_days: tuple[Literal[6, 12], ...] = Field(
        (6, 12), min_length=1, description="Candidate revisit intervals (days); one is drawn per scene."
    )
    gap_probability: float = Field(
        0.1, ge=0.0, lt=1.0, description="Probability that a revisit slot is missed."
    )
    snow_months: tuple[Month, ...] = Field(
        (), max_length=11, description="Months (1-12) without acquisitions (snow season), e.g. (12, 1, 2, 3)."
    )
    max_baseline_days: float = Field(
        60.0, gt=0.0, le=5000.0, description="Maximum temporal baseline of a stack pair (days)."
    )
    n_neighbours: int | None = Field(
        None, ge=1, le=100, description="If set, also limit pairs to this many nearest dates."
    )
    bridge_gaps: bool = Field(
        False, description="Add the consecutive pair across gaps longer than the maximum baseline."
    )
    pair_baseline_days: tuple[Days, Days] = Field(
        (6.0, 96.0),
        description="Range of the temporal baseline of a single pair (days, rounded to revisits).",
    )
    start_date: dt.date = Field(dt.date(2019, 1, 1), description="Date of the first acquisition.")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> SimulationConfig:
        for name, value in self:
            if name in {"heading_deg", "revisit_days", "snow_months"}:
                continue
            if isinstance(value, tuple) and len(value) == 2 and value[0] > value[1]:
                raise ValueError(f"{name}: low {value[0]} is above high {value[1]}")
        if self.gamma_inf[0] > self.gamma0[1]:
            raise ValueError("gamma_inf range lies above the gamma0 range")
        return self

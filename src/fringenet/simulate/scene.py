"""Simulated interferograms and stacks: pure array core plus fringenet Datasets at the edge.

``simulate_stack_arrays`` draws one scene (terrain, geometry, targets, per-acquisition atmosphere
and deformation, per-pair coherence/noise/labels); ``simulate_pair`` / ``simulate_stack`` wrap it
into Datasets via :func:`fringenet.io.schema.make_dataset`. Every component draws from its own
generator, keyed by the component's name, so adding a component never shifts the others.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
import shapely.geometry
import xarray as xr
from affine import Affine
from numpy.typing import NDArray

from fringenet.conventions import DAYS_PER_YEAR, displacement_to_phase
from fringenet.errors import InputError
from fringenet.io.schema import make_dataset
from fringenet.simulate import acquisitions as acq
from fringenet.simulate import atmosphere as atm
from fringenet.simulate import decorrelation as dec
from fringenet.simulate import terrain
from fringenet.simulate.config import TARGET_SCENARIOS, SimulationConfig
from fringenet.simulate.geometry import los_unit_vector, project_to_los
from fringenet.simulate.targets import draw_targets

__all__ = [
    "SceneArrays",
    "SceneSignals",
    "objects_geodataframe",
    "scene_signals",
    "simulate_pair",
    "simulate_stack",
    "simulate_stack_arrays",
]

F32 = NDArray[np.float32]
INCIDENCE_GRADIENT_DEG_PER_KM = 0.068
"""Across-swath change of the incidence angle (Sentinel-1 IW: about 29-46 deg over 250 km)."""


@dataclass
class SceneArrays:
    """One simulated scene as plain arrays.

    ``per_pair`` holds ``(n_pairs, H, W)`` arrays named by the fringenet vocabulary, ``static`` the
    ``(H, W)`` ones; ``phase_noise`` (rad) is the decorrelation noise that was added to each pair.
    """

    dates: NDArray[np.datetime64]
    pairs: NDArray[np.int64]
    per_pair: dict[str, np.ndarray]
    static: dict[str, np.ndarray]
    phase_noise: F32
    objects: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    transform: Affine = field(default_factory=Affine.identity)


def component_rng(seed: int, name: str) -> np.random.Generator:
    """Generator for one named component; independent of every other name for the same seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(name.encode()),)))


def _uniform(seed: int, name: str, bounds: tuple[float, float]) -> float:
    return float(component_rng(seed, "param:" + name).uniform(bounds[0], bounds[1]))


def draw_scene_params(config: SimulationConfig) -> dict[str, Any]:
    """Draw the scene-level scalars from the config's ranges, adjusted for hard-negative scenarios."""
    s, c = config.seed, config
    p: dict[str, Any] = {
        name: _uniform(s, name, getattr(c, name))
        for name in (
            "incidence_deg", "relief_m", "dem_spectral_slope", "valley_depth", "lake_fraction",
            "turbulence_rms_cm", "turbulence_slope", "stratified_cm_per_km", "gamma0", "gamma_inf",
            "tau_days", "vegetation_fraction", "coherence_randomness", "pair_baseline_days",
        )
    }  # fmt: skip
    r = component_rng(s, "param:choices")
    p["heading_deg"] = float(r.choice(np.asarray(c.heading_deg)) + r.uniform(-3.0, 3.0))
    p["looks"] = int(r.integers(c.looks[0], c.looks[1] + 1))
    p["revisit_days"] = int(r.choice(np.asarray(c.revisit_days)))
    p["has_lake"] = bool(r.random() < c.lake_probability)
    p["stratified_model"] = (
        c.stratified_model if c.stratified_model != "random" else str(r.choice(["linear", "exponential"]))
    )
    p["scenario"] = c.scenario
    p["n_targets"] = c.n_targets if c.scenario in TARGET_SCENARIOS else 0
    h = component_rng(s, "param:hard_negative")
    if c.scenario == "decorrelated":
        p["gamma0"], p["gamma_inf"] = float(h.uniform(0.05, 0.3)), float(h.uniform(0.0, 0.05))
        p["tau_days"] = float(h.uniform(2.0, 12.0))
        p["vegetation_fraction"] = float(h.uniform(0.4, 0.9))
    elif c.scenario == "stratified":
        p["relief_m"] = float(h.uniform(1500.0, 3000.0))
        p["stratified_cm_per_km"] = float(h.uniform(3.0, 6.0))
        p["turbulence_rms_cm"] = float(h.uniform(0.05, 0.4))
    p["gamma_inf"] = min(p["gamma_inf"], p["gamma0"])
    return p


def _geometry(config: SimulationConfig, p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel incidence (varying across the swath) and heading, ``(H, W)`` deg."""
    le, ln, _ = los_unit_vector(p["incidence_deg"], p["heading_deg"])
    rows, cols = np.mgrid[0 : config.height, 0 : config.width].astype(np.float64)
    east = (cols - config.width / 2) * config.pixel_size_m
    north = -(rows - config.height / 2) * config.pixel_size_m
    # ground range grows away from the satellite, i.e. against the horizontal LOS direction
    range_km = -(east * le + north * ln) / np.hypot(le, ln) / 1000.0
    incidence = p["incidence_deg"] + INCIDENCE_GRADIENT_DEG_PER_KM * range_km
    return incidence, np.full_like(incidence, p["heading_deg"])


def _dates(config: SimulationConfig, p: dict[str, Any], pair: bool) -> NDArray[np.datetime64]:
    if pair:
        n_rev = max(1, round(p["pair_baseline_days"] / p["revisit_days"]))
        start = np.datetime64(config.start_date, "D")
        return np.array([start, start + np.timedelta64(n_rev * p["revisit_days"], "D")])
    return acq.acquisition_dates(
        component_rng(config.seed, "dates"), config.start_date, config.n_dates, p["revisit_days"],
        config.gap_probability, tuple(config.snow_months),
    )  # fmt: skip


@dataclass
class SceneSignals:
    """The noise-free part of a scene, per acquisition: what both interferogram and SLC simulators share.

    ``deformation`` and ``atmosphere`` are ``(date, H, W)``: LOS displacement (m, since the first
    date) and one-way atmospheric phase (rad) of each acquisition; ``coherence`` holds the per-pixel
    temporal-decorrelation model; ``static`` the ``(H, W)`` layers of :class:`SceneArrays`.
    """

    dates: NDArray[np.datetime64]
    days: NDArray[np.float64]
    pairs: NDArray[np.int64]
    deformation: NDArray[np.float64]
    atmosphere: NDArray[np.float64]
    coherence: dec.CoherenceParams
    backscatter: NDArray[np.float64]
    footprint: NDArray[np.bool_]
    water: NDArray[np.bool_]
    layover_or_shadow: NDArray[np.bool_]
    static: dict[str, np.ndarray]
    targets: list[Any]
    los_patterns: list[np.ndarray]
    params: dict[str, Any]
    transform: Affine

    @property
    def t_years(self) -> NDArray[np.float64]:
        return self.days / DAYS_PER_YEAR


def scene_signals(
    config: SimulationConfig, dem: NDArray[np.floating] | None = None, pair: bool = False
) -> SceneSignals:
    """Draw a scene's terrain, geometry, dates, network, targets, atmosphere and coherence model.

    Parameters are those of :func:`simulate_stack_arrays`; nothing here is noisy phase yet.
    """
    seed, shape, px = config.seed, (config.height, config.width), config.pixel_size_m
    p = draw_scene_params(config)
    wl = config.wavelength_m

    # terrain and geometry
    if dem is None:
        dem_m = terrain.fractal_dem(
            component_rng(seed, "terrain"),
            shape,
            px,
            p["relief_m"],
            p["dem_spectral_slope"],
            p["valley_depth"],
        )
    else:
        dem_m = terrain.check_dem(dem, shape)
    dem_m, water = terrain.water_bodies(
        component_rng(seed, "water"), dem_m, p["lake_fraction"] if p["has_lake"] else 0.0
    )
    slope, aspect = terrain.slope_aspect(dem_m, px)
    incidence, heading = _geometry(config, p)
    layover, shadow = terrain.layover_shadow(dem_m, px, incidence, heading)
    layover_or_shadow = layover | shadow
    loc_inc = terrain.local_incidence(dem_m, px, incidence, heading)

    # acquisitions and network
    dates = _dates(config, p, pair)
    days = (dates - dates[0]).astype(np.int64).astype(np.float64)
    t_years = days / DAYS_PER_YEAR
    if pair:
        pairs = np.array([[0, 1]], dtype=np.int64)
    else:
        pairs = acq.small_baseline_network(
            dates, config.max_baseline_days, config.n_neighbours, config.bridge_gaps
        )

    # deformation targets: LOS displacement per acquisition (m)
    targets: list[Any] = []
    if p["n_targets"] != 0:
        targets = draw_targets(
            component_rng(seed, "targets"), config.scenario, dem_m, slope, aspect, px, p["n_targets"],
            time_span_yr=max(float(t_years[-1]), 1.0 / DAYS_PER_YEAR),
        )  # fmt: skip
    los_patterns = [
        project_to_los(t.pattern_enu[0], t.pattern_enu[1], t.pattern_enu[2], incidence, heading)
        for t in targets
    ]
    defo_dates = np.zeros((dates.size, *shape))
    for t, los_pattern in zip(targets, los_patterns, strict=True):
        factors = np.asarray(t.temporal.displacement(t_years), dtype=np.float64)
        defo_dates += factors[:, None, None] * los_pattern[None]
    footprint = np.zeros(shape, dtype=bool)
    for t in targets:
        footprint |= np.asarray(t.footprint, dtype=bool)
    t0, t1 = float(t_years[0]), float(t_years[-1])
    velocities = [
        lp * float(t.temporal.mean_velocity(t0, t1)) for t, lp in zip(targets, los_patterns, strict=True)
    ]
    los_velocity = np.sum(velocities, axis=0) if velocities else np.zeros(shape)

    # atmosphere per acquisition (rad)
    rng_turb = component_rng(seed, "atmosphere:turbulence")
    rms_rad = atm.cm_to_rad(p["turbulence_rms_cm"] * rng_turb.uniform(0.3, 1.0, dates.size), wl)
    atm_dates = atm.turbulent_delay(rng_turb, shape, dates.size, rms_rad, p["turbulence_slope"], px)
    coeff = component_rng(seed, "atmosphere:stratified").normal(0.0, p["stratified_cm_per_km"], dates.size)
    atm_dates += atm.stratified_delay(dem_m, atm.cm_to_rad(coeff, wl), p["stratified_model"])

    # coherence model (static land cover, per-pair temporal decay)
    vegetation = dec.vegetation_mask(component_rng(seed, "vegetation"), dem_m, p["vegetation_fraction"], px)
    cparams = dec.coherence_params(
        component_rng(seed, "coherence"), shape, p["gamma0"], p["gamma_inf"], p["tau_days"], vegetation,
        water, layover_or_shadow, p["coherence_randomness"], px,
    )  # fmt: skip
    sigma0 = dec.backscatter(loc_inc, vegetation, water)

    transform = Affine(px, 0.0, config.origin_x_m, 0.0, -px, config.origin_y_m)
    le, ln, lu = los_unit_vector(incidence, heading)
    static = {
        "dem": dem_m, "slope": slope, "aspect": aspect, "water": water, "layover": layover_or_shadow,
        "incidence": incidence, "heading": heading, "los_velocity": los_velocity,
        "los_east": le, "los_north": ln, "los_up": lu,
    }  # fmt: skip
    static = {k: v.astype(np.uint8 if v.dtype == bool else np.float32) for k, v in static.items()}
    p["n_targets"] = len(targets)
    return SceneSignals(
        dates, days, pairs, defo_dates, atm_dates, cparams, sigma0, footprint, water, layover_or_shadow,
        static, targets, los_patterns, p, transform,
    )  # fmt: skip


def simulate_stack_arrays(
    config: SimulationConfig, dem: NDArray[np.floating] | None = None, pair: bool = False
) -> SceneArrays:
    """Simulate one scene as arrays (see :class:`SceneArrays`); ``pair=True`` gives a single pair.

    Parameters
    ----------
    config
        Simulation settings; ranges are drawn from with the config's seed.
    dem
        Optional real DEM (m), ``(height, width)`` of the config; otherwise a fractal DEM is drawn.
    pair
        Single interferogram between two dates ``pair_baseline_days`` apart (rounded to revisits)
        instead of a small-baseline stack of ``n_dates`` dates.
    """
    sig = scene_signals(config, dem, pair)
    shape, wl, p = (config.height, config.width), config.wavelength_m, sig.params
    pairs, days = sig.pairs, sig.days
    valid = ~(sig.water | sig.layover_or_shadow)
    n_pairs = pairs.shape[0]
    out: dict[str, np.ndarray] = {
        name: np.zeros((n_pairs, *shape), dtype=dtype)
        for name, dtype in (
            ("wrapped_phase", np.float32), ("unwrapped_phase", np.float32), ("ambiguity", np.int16),
            ("coherence", np.float32), ("amplitude", np.float32), ("los_displacement", np.float32),
            ("atmosphere", np.float32), ("label", np.uint8), ("decorrelation", np.uint8), ("valid", np.uint8),
        )
    }  # fmt: skip
    noise_out = np.zeros((n_pairs, *shape), dtype=np.float32)
    rng_noise = component_rng(config.seed, "noise")
    for k, (i, j) in enumerate(pairs):
        coherence = dec.coherence_for_baselines(sig.coherence, np.array([days[j] - days[i]]))[0]
        noise, intensity = dec.multilook_noise(rng_noise, coherence, p["looks"])
        los = sig.deformation[j] - sig.deformation[i]
        atm_pair = sig.atmosphere[j] - sig.atmosphere[i]
        defo_phase = displacement_to_phase(los, wl)
        wrapped, unwrapped, ambiguity = acq.wrap_with_ambiguity(defo_phase + atm_pair + noise)
        decorrelated = dec.decorrelation_mask(
            coherence, sig.water, sig.layover_or_shadow, config.decorrelation_threshold
        )
        out["wrapped_phase"][k], out["unwrapped_phase"][k], out["ambiguity"][k] = (
            wrapped,
            unwrapped,
            ambiguity,
        )
        out["coherence"][k] = coherence
        out["amplitude"][k] = np.sqrt(sig.backscatter * intensity)
        out["los_displacement"][k] = los
        out["atmosphere"][k] = atm_pair
        out["label"][k] = (
            sig.footprint & (np.abs(defo_phase) >= config.visibility_threshold_rad) & ~decorrelated
        )
        out["decorrelation"][k] = decorrelated
        out["valid"][k] = valid
        noise_out[k] = noise

    t0, t1 = float(sig.t_years[0]), float(sig.t_years[-1])
    objects = target_objects(sig.targets, sig.los_patterns, t0, t1, out["label"], sig.transform)
    return SceneArrays(sig.dates, pairs, out, sig.static, noise_out, objects, p, sig.transform)


def _to_dataset(config: SimulationConfig, scene: SceneArrays, pair: bool) -> xr.Dataset:
    per_pair = {k: v[0] for k, v in scene.per_pair.items()} if pair else scene.per_pair
    refs, secs = scene.dates[scene.pairs[:, 0]], scene.dates[scene.pairs[:, 1]]
    attrs = {
        "objects": json.dumps(scene.objects),
        "scenario": config.scenario,
        "seed": config.seed,
        "simulation_config": config.model_dump_json(),
        "simulation_params": json.dumps(scene.params),
        "acquisition_dates": json.dumps([str(d) for d in scene.dates]),
        "source": "fringenet.simulate",
    }
    return make_dataset(
        {**per_pair, **scene.static},
        transform=scene.transform,
        crs=f"EPSG:{config.epsg}",
        reference_dates=refs[0] if pair else refs,
        secondary_dates=secs[0] if pair else secs,
        wavelength_m=config.wavelength_m,
        sensor="simulated",
        attrs=attrs,
    )


def simulate_pair(config: SimulationConfig, dem: NDArray[np.floating] | None = None) -> xr.Dataset:
    """Simulate one interferogram as a fringenet Dataset with dims ``(y, x)``.

    Objects (targets) are in ``ds.attrs["objects"]`` (JSON); see :func:`objects_geodataframe`.
    """
    return _to_dataset(config, simulate_stack_arrays(config, dem, pair=True), pair=True)


def simulate_stack(config: SimulationConfig, dem: NDArray[np.floating] | None = None) -> xr.Dataset:
    """Simulate a small-baseline stack as a fringenet Dataset with dims ``(pair, y, x)``."""
    return _to_dataset(config, simulate_stack_arrays(config, dem, pair=False), pair=False)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist()) if value.size <= 16 else f"array{value.shape}"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def target_objects(
    targets: list[Any],
    los_patterns: list[np.ndarray],
    t0_years: float,
    t1_years: float,
    labels: NDArray[np.uint8],
    transform: Affine,
) -> list[dict[str, Any]]:
    """One GeoDataFrame-ready record per target (geometry as WKT in map coordinates).

    ``velocity_m_per_yr`` is the signed mean LOS velocity over ``[t0, t1]`` at the footprint pixel
    where its magnitude peaks; ``labelled_pixels`` counts (pair, pixel) samples labelled visible.
    """
    records = []
    for idx, (t, los_pattern) in enumerate(zip(targets, los_patterns, strict=True)):
        fp = np.asarray(t.footprint, dtype=bool)
        v = los_pattern * float(t.temporal.mean_velocity(t0_years, t1_years))
        shapes = [shapely.geometry.shape(g) for g, _ in rasterio.features.shapes(
            fp.astype(np.uint8), mask=fp, transform=transform)]  # fmt: skip
        polygon = shapely.union_all(shapes) if shapes else shapely.Polygon()
        peak = float(v.flat[np.argmax(np.where(fp, np.abs(v), -1.0))]) if fp.any() else 0.0
        records.append(
            {
                "id": idx + 1,
                "kind": str(t.kind),
                "source": str(t.source),
                "bbox": list(polygon.bounds) if not polygon.is_empty else [],
                "geometry": polygon.wkt,
                "velocity_m_per_yr": peak,
                "temporal_kind": str(getattr(t.temporal, "kind", type(t.temporal).__name__)),
                "labelled_pixels": int(np.count_nonzero(labels[:, fp])),
                "params": _json_safe(dict(t.params)),
            }
        )
    return records


def objects_geodataframe(ds: xr.Dataset) -> gpd.GeoDataFrame:
    """The simulated objects of a Dataset (``ds.attrs["objects"]``) as a GeoDataFrame in its CRS."""
    if "objects" not in ds.attrs:
        raise InputError("dataset", "no 'objects' attribute; was it made by fringenet.simulate?")
    records = json.loads(ds.attrs["objects"])
    geometry = [shapely.from_wkt(r.pop("geometry")) for r in records]
    for r in records:
        r["params"] = json.dumps(r.get("params", {}))
        r["bbox"] = json.dumps(r.get("bbox", []))
    return gpd.GeoDataFrame(records, geometry=geometry, crs=ds.rio.crs)

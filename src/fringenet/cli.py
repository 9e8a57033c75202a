"""The ``fringenet`` command line: a thin layer over the library.

Each command parses its options, calls one library function and prints a short summary. Heavy
imports happen inside the commands so ``fringenet --help`` stays fast. Bad input ends with one
line ``error: <file>: <problem>`` and exit code 2, not a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar, get_args, get_origin

import typer
from typer.core import TyperCommand

from fringenet import __version__
from fringenet.errors import FringenetError

app = typer.Typer(
    name="fringenet",
    help="Find and measure ground deformation in InSAR interferograms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
simulate_app = typer.Typer(
    help="Simulate labelled interferograms (a pair, a stack, a gallery).", no_args_is_help=True
)
app.add_typer(simulate_app, name="simulate")
dataset_app = typer.Typer(help="Build patch datasets for segmentation training.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
models_app = typer.Typer(help="The models shipped in the package.", no_args_is_help=True)
app.add_typer(models_app, name="models")

F = TypeVar("F", bound=Callable[..., Any])

Scenario = Annotated[str | None, typer.Option()]  # help and values from SimulationConfig (see _schema)
Size = Annotated[tuple[int, int] | None, typer.Option(help="Height and width (px).")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed gives the same bytes.")]
SimSeed = Annotated[int | None, typer.Option(help="Random seed: the same seed gives the same bytes.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]


def _variable(value: str) -> str:
    from fringenet.io.schema import VARIABLES

    if value not in VARIABLES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(VARIABLES)}")
    return value


Lookup = Annotated[
    Path | None,
    typer.Option(
        help="Geocode radar-geometry outputs: GAMMA lookup table (lt_fine, DEM par beside it), ISCE lat.rdr "
        "(lon.rdr beside it) or its folder, lat*.tif + lon*.tif, or MintPy geometryRadar.h5."
    ),
]
Variable = Annotated[
    str | None,
    typer.Option(
        parser=_variable,
        help="What generic GeoTIFFs hold (wrapped_phase, unwrapped_phase, coherence, ...), for names such as "
        "ifg_20200101_20200113.tif. Default: from the name (LiCSAR kinds, unw/pha/cc/coh... hints, tags); for a "
        "name with pair dates but no hint, from the values: within ±π and spanning over π is wrapped phase, "
        "beyond ±π (and not ±180 / ±3142, degrees / milliradians) unwrapped phase, with a note; anything else "
        "(e.g. values in [0, 1]) is refused. A folder's first file decides for all.",
    ),
]

DETECT = "fringenet.pipeline.monitor:DetectConfig"
MONITOR = "fringenet.pipeline.monitor:MonitorConfig"
TIMESERIES = "fringenet.pipeline.timeseries:TimeseriesConfig"
SIMULATION = "fringenet.simulate.config:SimulationConfig"
DATASET, SIMULATED, REAL = (
    f"fringenet.data.config:{n}" for n in ("DatasetConfig", "SimulatedSource", "RealSource")
)


def _schema(*schemas: str, **renamed: str | tuple[str, ...]) -> type[TyperCommand]:
    """A command class whose options stand for fields of pydantic config schemas (``"module:Class"``).

    An option is the first schema's field of its own name, or ``renamed[name]`` (a tuple for a tuple
    option, ``()`` for none). Its help is the field's description unless it has its own, an option
    defaulting to None shows the field's default, a Literal field lists its values; a value given is
    checked as the field checks it (bounds, values, validators) when the command line is parsed, before
    any data is read or model loaded. The schemas are imported only then: ``fringenet --help`` stays fast.
    """

    def fields_of(param: Any) -> list[tuple[Any, str, Any]]:
        """(schema, field name, FieldInfo) of each field the option stands for."""
        names = renamed.get(param.name, param.name)
        models = [getattr(importlib.import_module(m), c) for m, c in (s.split(":") for s in schemas)]
        found = []
        for name in (names,) if isinstance(names, str) else names:
            found += [(m, name, m.model_fields[name]) for m in models if name in m.model_fields][:1]
        return found

    class SchemaCommand(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            rest = super().parse_args(ctx, args)
            params: list[Any] = self.params  # typer's options and arguments
            for param in params:
                value, found = ctx.params.get(param.name), fields_of(param)
                if value is None or not found:
                    continue
                for (model, name, _), item in zip(found, value if len(found) > 1 else (value,), strict=True):
                    problem = _field_problem(model, name, item)
                    if problem:
                        problem = f"{name}: {problem}" if len(found) > 1 else problem
                        raise typer.BadParameter(problem, ctx=ctx, param=param)
            return rest

        def format_help(self, ctx: Any, formatter: Any) -> None:
            from pydantic_core import PydanticUndefined

            params: list[Any] = self.params
            for param in params:
                found = fields_of(param)
                if not found:
                    continue
                param.help = param.help or found[0][2].description
                defaults = [field.default for _, _, field in found]
                if param.default is None and all(d not in (None, PydanticUndefined) for d in defaults):
                    param.default = defaults[0] if len(defaults) == 1 else tuple(defaults)
                    param.show_default = True
                choices = [get_args(t) for t in (found[0][2].annotation, *get_args(found[0][2].annotation))
                           if get_origin(t) is Literal]  # fmt: skip
                if choices:
                    param.metavar = "|".join(map(str, choices[0]))
            super().format_help(ctx, formatter)  # the program ends after its help: no need to restore

    return SchemaCommand


def _field_problem(model: Any, name: str, value: Any) -> str | None:
    """What the config field ``name`` of ``model`` says is wrong with ``value`` (None: nothing)."""
    from pydantic import ValidationError

    try:
        model.model_validate({name: value})
    except ValidationError as err:  # errors of other fields (required ones, cross-field rules) are not ours
        problems = [e["msg"].removeprefix("Value error, ") for e in err.errors() if e["loc"][:1] == (name,)]
        return "; ".join(problems) or None
    return None


def _clear_errors(func: F) -> F:
    """Print fringenet's input errors as one line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FringenetError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fringenet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """fringenet: detection-first InSAR deformation monitoring."""


def _simulation_config(
    config: Path | None, scenario: str | None, size: tuple[int, int] | None, seed: int | None, **extra: Any
) -> Any:
    from fringenet.config import load_yaml_config, validate_config
    from fringenet.simulate.config import SimulationConfig

    base = load_yaml_config(SimulationConfig, config) if config else SimulationConfig()
    values = base.model_dump()
    height, width = size if size is not None else (None, None)
    overrides = {"scenario": scenario, "height": height, "width": width, "seed": seed, **extra}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return validate_config(SimulationConfig, values, source=config or "command line")


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="SimulationConfig YAML (see `fringenet config simulation`)."),
]


@simulate_app.command("pair", cls=_schema(SIMULATION, size=("height", "width")))
@_clear_errors
def simulate_pair_cmd(
    out: Out,
    seed: SimSeed = None,
    size: Size = None,
    scenario: Scenario = None,
    config: ConfigOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing simulation in --out.")] = False,
) -> None:
    """Simulate one labelled interferogram: GeoTIFFs per variable, a NetCDF and labels.geojson."""
    from fringenet.pipeline.simulate import run_simulate

    cfg = _simulation_config(config, scenario, size, seed)
    result = run_simulate(cfg, out, mode="pair", overwrite=overwrite)
    _print_simulation(result)


@simulate_app.command("stack", cls=_schema(SIMULATION, size=("height", "width"), dates="n_dates"))
@_clear_errors
def simulate_stack_cmd(
    out: Out,
    seed: SimSeed = None,
    size: Size = None,
    scenario: Scenario = None,
    dates: Annotated[int | None, typer.Option(help="Number of acquisitions.")] = None,
    config: ConfigOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing simulation in --out.")] = False,
) -> None:
    """Simulate a small-baseline stack: per-pair GeoTIFF folders, a NetCDF and labels.geojson."""
    from fringenet.pipeline.simulate import run_simulate

    cfg = _simulation_config(config, scenario, size, seed, n_dates=dates)
    result = run_simulate(cfg, out, mode="stack", overwrite=overwrite)
    _print_simulation(result)


def _print_simulation(result: Any) -> None:
    from fringenet.io.open import describe

    typer.echo(describe(result.dataset))
    typer.echo(f"wrote {result.netcdf}, {result.labels} and {len(result.geotiffs)} GeoTIFFs")


@simulate_app.command("gallery")
@_clear_errors
def simulate_gallery_cmd(out: Out = Path("docs/images/simulator"), seed: Seed = 0) -> None:
    """Write one quicklook PNG per scenario and hard negative, and training.png (24 on-the-fly training
    samples): the figures of docs/simulator.md."""
    from fringenet.report.gallery import write_gallery, write_training_gallery

    for path in write_gallery(out, seed=seed):
        typer.echo(f"wrote {path}")
    typer.echo(f"wrote {write_training_gallery(Path(out) / 'training.png', seed=seed)}")


@app.command()
@_clear_errors
def info(
    path: Annotated[Path, typer.Argument(help="GeoTIFF, NetCDF, Zarr, MintPy .h5, GAMMA/ISCE raw, folder.")],
    variable: Variable = None,
) -> None:
    """Describe a product: variables, grid, CRS, dates, wavelength."""
    from fringenet.io.open import describe, open_product

    ds = open_product(path, variable=variable)
    typer.echo(describe(ds))
    for note in ds.encoding.get("notes", []):
        typer.echo(f"note: {note}")


@app.command(cls=_schema(TIMESERIES, method="unwrap_method"))
@_clear_errors
def unwrap(
    path: Annotated[Path, typer.Argument(help="Wrapped interferogram (GeoTIFF/NetCDF) or a stack.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output GeoTIFF (a pair) or NetCDF (a stack).")],
    method: Annotated[str, typer.Option(help="Unwrapper.")] = "snaphu",
    coherence: Annotated[
        Path | None, typer.Option(help="Coherence raster, when not beside the phase.")
    ] = None,
    nlooks: Annotated[float, typer.Option(help="Effective number of looks.")] = 1.0,
    variable: Variable = None,
    lookup: Lookup = None,
) -> None:
    """Unwrap a wrapped interferogram (or every pair of a stack)."""
    from fringenet.pipeline.unwrap import run_unwrap

    result = run_unwrap(
        path, out, method=method, coherence_path=coherence, nlooks=nlooks, variable=variable, lookup=lookup
    )
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {result.path}")


@app.command(cls=_schema(TIMESERIES, method="unwrap_method", reference="reference_yx"))
@_clear_errors
def timeseries(
    stack: Annotated[
        Path,
        typer.Argument(help="A stack: folder of per-pair GeoTIFFs, NetCDF, Zarr, MintPy ifgramStack.h5."),
    ],
    out: Out,
    method: Annotated[str | None, typer.Option()] = None,
    reference: Annotated[tuple[int, int] | None, typer.Option()] = None,
    min_coherence: Annotated[float | None, typer.Option()] = None,
    nlooks: Annotated[float | None, typer.Option()] = None,
    nodata: Annotated[
        float | None, typer.Option(help="Raster value meaning no data (e.g. 0 for ROI_PAC/PyRate).")
    ] = None,
    wavelength: Annotated[
        float | None, typer.Option(help="Radar wavelength (m) when the files carry none.")
    ] = None,
    variable: Variable = None,
    lookup: Lookup = None,
) -> None:
    """Invert a small-baseline stack (SBAS): velocity.tif (m/yr), timeseries.nc and MintPy .h5 files."""
    from fringenet.config import validate_config
    from fringenet.pipeline.timeseries import TimeseriesConfig, run_timeseries

    given = {
        "unwrap_method": method, "reference_yx": reference, "min_coherence": min_coherence, "nlooks": nlooks
    }  # fmt: skip
    cfg = validate_config(
        TimeseriesConfig, {k: v for k, v in given.items() if v is not None}, source="command line"
    )
    result = run_timeseries(
        stack, out, cfg, nodata=nodata, wavelength_m=wavelength, variable=variable, lookup=lookup
    )
    for note in result.notes:
        typer.echo(f"note: {note}")
    v = result.timeseries["los_velocity"]
    typer.echo(
        f"{result.timeseries.sizes['date']} dates, wavelength {result.timeseries.attrs['wavelength_m']} m "
        f"({result.timeseries.attrs['wavelength_source']}); LOS velocity (m/yr, + towards satellite): "
        f"min {float(v.min()):.4f}, median {float(v.median()):.4f}, max {float(v.max()):.4f}"
    )
    typer.echo(
        f"wrote {result.velocity_tif}, {result.timeseries_nc}, {result.mintpy_timeseries}, {result.mintpy_velocity}"
    )


@app.command()
@_clear_errors
def displacement(
    optical: Annotated[
        tuple[Path, Path], typer.Option(help="Pre- and post-event images (single band, one grid).")
    ],
    out: Out,
    method: Annotated[
        Literal["phase_correlation", "ncc", "dis", "farneback"], typer.Option(help="Correlator.")
    ] = "phase_correlation",
    overwrite: Annotated[bool, typer.Option(help="Replace a previous run in OUT.")] = False,
) -> None:
    """East/north ground displacement (m) from a pre/post optical pair (classical correlators; issue 12)."""
    from fringenet.pipeline.displacement import run_displacement

    result = run_displacement(optical[0], optical[1], out, method=method, overwrite=overwrite)
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {result.east_tif}, {result.north_tif}")


@app.command("config")
@_clear_errors
def config_cmd(
    name: Annotated[
        Literal[
            "simulation",
            "timeseries",
            "dataset",
            "train",
            "train-detector",
            "train-masknet",
            "detect",
            "monitor",
            "sequences",
            "train-temporal",
        ],
        typer.Argument(help="The workflow."),
    ],
) -> None:
    """Print a workflow's default configuration as commented YAML."""
    from fringenet.config import to_commented_yaml

    if name == "simulation":
        from fringenet.simulate.config import SimulationConfig

        typer.echo(to_commented_yaml(SimulationConfig()), nl=False)
    elif name == "timeseries":
        from fringenet.pipeline.timeseries import TimeseriesConfig

        typer.echo(to_commented_yaml(TimeseriesConfig()), nl=False)
    elif name == "dataset":
        from fringenet.data.config import DatasetConfig, SimulatedSource

        typer.echo(to_commented_yaml(DatasetConfig(simulate=SimulatedSource())), nl=False)
    elif name == "train":
        from fringenet.train.config import TrainConfig

        typer.echo(to_commented_yaml(TrainConfig(dataset=Path("DATASET"))), nl=False)
    elif name == "sequences":
        from fringenet.data.sequence_store import SequenceDatasetConfig

        typer.echo(to_commented_yaml(SequenceDatasetConfig()), nl=False)
    elif name in ("train-detector", "train-masknet"):
        from fringenet.train.detector import GeneratedTrainConfig

        task = "detector" if name == "train-detector" else "masknet"
        typer.echo(to_commented_yaml(GeneratedTrainConfig(task=task)), nl=False)
    elif name == "train-temporal":
        from fringenet.train.temporal import TemporalTrainConfig

        typer.echo(to_commented_yaml(TemporalTrainConfig(dataset=Path("DATASET"))), nl=False)
    else:
        from fringenet.pipeline.monitor import DetectConfig, MonitorConfig

        typer.echo(to_commented_yaml(DetectConfig() if name == "detect" else MonitorConfig()), nl=False)


def _yaml_mapping(path: Path | None) -> dict[str, Any]:
    """The raw mapping of an optional YAML config (validated after command-line overrides)."""
    from fringenet.config import read_yaml_mapping

    return {} if path is None else read_yaml_mapping(path)


@dataset_app.command(
    "build",
    cls=_schema(
        DATASET,
        REAL,  # before SIMULATED: --coherence is the real product's
        SIMULATED,
        simulate="n_scenes",
        scene_size=("height", "width"),
        channels=(),
        wavelength="wavelength_m",
    ),
)
@_clear_errors
def dataset_build(
    out: Out,
    config: Annotated[
        Path | None, typer.Option(help="Dataset config YAML (see `fringenet config dataset`).")
    ] = None,
    simulate: Annotated[int | None, typer.Option(help="Number of simulated scenes.")] = None,
    scenario: Annotated[str | None, typer.Option()] = None,
    scene_size: Annotated[
        tuple[int, int] | None, typer.Option(help="Simulated scene height and width.")
    ] = None,
    patch_size: Annotated[int | None, typer.Option(help="Patch size (px).")] = None,
    channels: Annotated[str | None, typer.Option(help="Comma-separated channel names.")] = None,
    product: Annotated[Path | None, typer.Option(help="A real product (with --inventory).")] = None,
    inventory: Annotated[
        Path | None, typer.Option(help="Vector inventory or label GeoTIFF of --product.")
    ] = None,
    coherence: Annotated[Path | None, typer.Option(help="Coherence product of --product.")] = None,
    dem: Annotated[Path | None, typer.Option(help="DEM GeoTIFF of --product.")] = None,
    nodata: Annotated[float | None, typer.Option(help="No-data value of --product's rasters.")] = None,
    wavelength: Annotated[
        float | None, typer.Option(help="Wavelength (m) if --product carries none.")
    ] = None,
    variable: Variable = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulation and the splits.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dataset folder.")] = False,
) -> None:
    """Cut simulated and/or real interferograms into labelled patches with train/val/test splits (Zarr)."""
    from fringenet.config import validate_config
    from fringenet.data.config import DatasetConfig
    from fringenet.errors import InputError
    from fringenet.pipeline.dataset import run_build_dataset, splits_markdown

    raw = _yaml_mapping(config)
    if raw.get("format") == "sequences":
        _build_sequences(raw, config, out, simulate, scenario, scene_size, seed, overwrite)
        return
    sim = dict(raw.get("simulate") or {})
    for key, value in (("n_scenes", simulate), ("scenario", scenario), ("seed", seed)):
        if value is not None:
            sim[key] = value
    if scene_size is not None:
        sim["height"], sim["width"] = scene_size
    if sim or simulate is not None:
        raw["simulate"] = sim
    for key, value in (("patch_size", patch_size), ("seed", seed)):
        if value is not None:
            raw[key] = value
    if channels is not None:
        raw["channels"] = [c.strip() for c in channels.split(",") if c.strip()]
    if (product is None) != (inventory is None):
        raise InputError("command line", "--product and --inventory go together")
    if product is not None:
        source: dict[str, Any] = {
            "product": product,
            "inventory": inventory,
            "coherence": coherence,
            "dem": dem,
        }
        source |= {"nodata": nodata, "wavelength_m": wavelength, "variable": variable}
        raw["real"] = [*raw.get("real", []), {k: v for k, v in source.items() if v is not None}]
    cfg = validate_config(DatasetConfig, raw, source=config or "command line")
    summary = run_build_dataset(cfg, out, overwrite=overwrite, progress=True)
    for note in summary.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"{summary.n_patches} patches of {cfg.patch_size} px, channels {', '.join(summary.channels)}")
    typer.echo(splits_markdown(summary.splits), nl=False)
    typer.echo(f"wrote {summary.path}")


def _build_sequences(
    raw: dict[str, Any],
    config: Path | None,
    out: Path,
    simulate: int | None,
    scenario: str | None,
    scene_size: tuple[int, int] | None,
    seed: int | None,
    overwrite: bool,
) -> None:
    """``dataset build`` of a sequence dataset (simulated SLC stacks for the time-series models)."""
    from fringenet.config import validate_config
    from fringenet.data.sequence_store import SequenceDatasetConfig, build_sequence_dataset

    for key, value in (("n_scenes", simulate), ("scenario", scenario), ("seed", seed)):
        if value is not None:
            raw[key] = value
    if scene_size is not None:
        raw["size"] = scene_size[0]
    cfg = validate_config(SequenceDatasetConfig, raw, source=config or "command line")
    summary = build_sequence_dataset(cfg, out, overwrite=overwrite, progress=True)
    splits = ", ".join(f"{k} {v}" for k, v in summary.splits.items())
    typer.echo(
        f"{summary.n_samples} stacks of {cfg.n_dates} SLCs, {cfg.size} px ({splits}) in {summary.seconds:.0f} s"
    )
    typer.echo(f"wrote {summary.path}")


@app.command()
@_clear_errors
def train(
    config: Annotated[Path, typer.Option(help="Training config YAML (see `fringenet config train`).")],
    out: Out,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoints/last.pt.")] = False,
    dataset: Annotated[Path | None, typer.Option(help="Override the config's dataset.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the config's epochs.")] = None,
) -> None:
    """Train a segmentation model (a patch dataset), a detector or Mask Net on generated interferograms
    (``task: detector|masknet``), a time-series model (``task: temporal``) or an optical-flow model on
    generated image pairs (``task: displacement``); writes checkpoints, history.csv and the model bundle
    OUT/model."""
    from fringenet.config import validate_config
    from fringenet.errors import InputError
    from fringenet.train.config import TrainConfig
    from fringenet.train.trainer import run_train

    raw = _yaml_mapping(config)
    if dataset is not None:
        raw["dataset"] = dataset
    if epochs is not None:
        raw["epochs"] = epochs
    if raw.get("task") == "temporal":
        from fringenet.train.temporal import TemporalTrainConfig, run_train_temporal

        tcfg = validate_config(TemporalTrainConfig, raw, source=config)
        temporal = run_train_temporal(tcfg, out, resume=resume)
        if tcfg.objective == "mae":
            typer.echo(
                f"best epoch {temporal.best_epoch}: validation reconstruction loss {-temporal.best_score:.4f}"
            )
        else:
            typer.echo(
                f"best epoch {temporal.best_epoch}: validation IoU {temporal.best_score:.3f} "
                f"at threshold {temporal.threshold:.3f}"
            )
        typer.echo(f"wrote {temporal.bundle} and {temporal.run_dir / 'history.csv'}")
        return
    if raw.get("task") in ("detector", "masknet"):
        from fringenet.train.detector import GeneratedTrainConfig, run_train_generated

        if dataset is not None:
            raise InputError(config, f"task '{raw['task']}' trains on generated samples and takes no dataset")
        generated = run_train_generated(
            validate_config(GeneratedTrainConfig, raw, source=config), out, resume=resume
        )
        kept = "last" if raw.get("keep_epoch") == "last" else "best"
        typer.echo(
            f"{kept} epoch {generated.best_epoch}: validation IoU {generated.best_val_iou:.3f} "
            f"at threshold {generated.threshold:.3f} (generated samples)"
        )
        typer.echo(f"wrote {generated.bundle} and {generated.run_dir / 'history.csv'}")
        return
    if raw.get("task") == "displacement":
        from fringenet.train.flow import FlowTrainConfig, run_train_flow

        if dataset is not None:
            raise InputError(config, "task 'displacement' trains on generated pairs and takes no dataset")
        bundle = run_train_flow(
            validate_config(FlowTrainConfig, raw, source=config), out, resume=resume, progress=True
        )
        typer.echo(f"wrote {bundle} and {Path(out) / 'history.csv'}")
        return
    cfg = validate_config(TrainConfig, raw, source=config)
    result = run_train(cfg, out, resume=resume)
    typer.echo(
        f"best epoch {result.best_epoch}/{result.epochs}: validation IoU {result.best_val_iou:.3f} "
        f"at threshold {result.threshold:.3f}"
    )
    typer.echo(f"wrote {result.bundle} and {result.run_dir / 'history.csv'}")


@app.command()
@_clear_errors
def evaluate(
    model: Annotated[Path, typer.Option(help="A run folder (holding model/) or a model bundle folder.")],
    data: Annotated[Path, typer.Option(help="Patch dataset folder.")],
    split: Annotated[
        Literal["test", "train"], typer.Option(help="Split to score (the threshold is chosen on val).")
    ] = "test",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default MODEL/eval-SPLIT).")
    ] = None,
    min_coverage: Annotated[
        float, typer.Option(help="Object found when this share of it is predicted.")
    ] = 0.25,
) -> None:
    """Score a model and the non-learned baselines: metrics.json, metrics.md, pr_curve.png, examples.png."""
    from fringenet.pipeline.evaluate import run_evaluate

    result = run_evaluate(model, data, out or model / f"eval-{split}", split=split, min_coverage=min_coverage)
    typer.echo(result.markdown, nl=False)
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {result.out_dir}")


Model = Annotated[
    Path | None,
    typer.Option(
        help="Detector bundle, or a shipped model's name (e.g. temporal); default: the shipped detector."
    ),
]
RunConfig = Annotated[
    Path | None, typer.Option("--config", help="YAML settings (see `fringenet config monitor`).")
]
# help, default, values and checks of these come from DetectConfig / MonitorConfig (see _schema)
Mask = Annotated[str | None, typer.Option()]
MaskModel = Annotated[Path | None, typer.Option()]
SlowMotion = Annotated[str | None, typer.Option()]
MaxPairs = Annotated[int | None, typer.Option()]
TargetType = Annotated[str | None, typer.Option()]
MinSlope = Annotated[float | None, typer.Option("--min-slope")]
Threshold = Annotated[float | None, typer.Option()]
Window = Annotated[int | None, typer.Option()]
Overlap = Annotated[int | None, typer.Option()]
BatchSize = Annotated[int | None, typer.Option()]
MinPixels = Annotated[int | None, typer.Option()]
Device = Annotated[str | None, typer.Option()]
Precision = Annotated[str | None, typer.Option()]
Scheduler = Annotated[str | None, typer.Option()]
Workers = Annotated[int | None, typer.Option()]
RunOverwrite = Annotated[
    bool, typer.Option(help="Replace a previous run in --out (only the files fringenet wrote there).")
]


def _run_settings(config: Path | None, **options: Any) -> dict[str, Any]:
    """The YAML settings with every option given on the command line on top."""
    raw = _yaml_mapping(config)
    raw.update({k: v for k, v in options.items() if v is not None})
    return raw


@contextlib.contextmanager
def _no_folder_on_error(folder: Path) -> Iterator[None]:
    """Remove ``folder`` when the run fails on an input and the folder did not exist before it."""
    existed = folder.exists()
    try:
        yield
    except FringenetError:
        if not existed and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _interactive() -> bool:
    """Progress bars only on a terminal: logs and CI output stay free of carriage-return noise."""
    return sys.stderr.isatty()


def _print_run(result: Any) -> None:
    for note in dict.fromkeys(result.notes):
        typer.echo(f"note: {note}")
    typer.echo(
        f"{len(result.detections)} target(s); "
        + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    )
    for name, path in result.files.items():
        typer.echo(f"{name}: {path}")


@app.command(cls=_schema(DETECT))
@_clear_errors
def detect(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Interferograms or stacks (any product `info` reads). Several products, or --each, give one "
            "run folder per product under --out and a summary.json.",
            show_default=False,
            metavar="PRODUCT",
        ),
    ],
    out: Out,
    each: Annotated[
        bool,
        typer.Option("--each", help="Scan each pair of a folder or stack on its own (one run per pair)."),
    ] = False,
    model: Model = None,
    config: RunConfig = None,
    mask: Mask = None,
    mask_model: MaskModel = None,
    slow_motion: SlowMotion = None,
    max_pairs: MaxPairs = None,
    target_type: TargetType = None,
    min_slope_deg: MinSlope = None,
    threshold: Threshold = None,
    window: Window = None,
    overlap: Overlap = None,
    batch_size: BatchSize = None,
    min_pixels: MinPixels = None,
    device: Device = None,
    precision: Precision = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    variable: Variable = None,
    lookup: Lookup = None,
    overwrite: RunOverwrite = False,
) -> None:
    """Scan whole scenes: probability and detection rasters, target polygons (GeoJSON); several at once."""
    from fringenet.config import validate_config
    from fringenet.pipeline.monitor import DetectConfig, run_detect

    raw = _run_settings(
        config, model=model, mask=mask, mask_model=mask_model, slow_motion=slow_motion, max_pairs=max_pairs,
        target_type=target_type,
        min_slope_deg=min_slope_deg, threshold=threshold, window=window, overlap=overlap, batch_size=batch_size,
        min_pixels=min_pixels, device=device, precision=precision, scheduler=scheduler, workers=workers,
        variable=variable, lookup=lookup,
    )  # fmt: skip
    cfg = validate_config(DetectConfig, raw, source=config or "options")
    with _no_folder_on_error(out):
        if len(inputs) == 1 and not each:
            _print_run(run_detect(inputs[0], out, cfg, overwrite=overwrite, progress=_interactive()))
            return
        from fringenet.pipeline.detect_many import run_detect_many

        result = run_detect_many(inputs, out, cfg, each=each, overwrite=overwrite, progress=_interactive())
    for note in result.notes:
        typer.echo(f"note: {note}")
    for run in result.runs:
        typer.echo(f"{run.name}: " + (f"{run.n_targets} target(s), {run.seconds:.1f} s" if run.status == "done"
                                      else f"FAILED: {run.error}"))  # fmt: skip
    typer.echo(f"summary: {result.summary_path}")
    if result.failed:
        typer.echo(
            f"error: {len(result.failed)} of {len(result.runs)} product(s) failed (see above)", err=True
        )
        raise typer.Exit(1)


@app.command(cls=_schema(MONITOR))
@_clear_errors
def monitor(
    stack: Annotated[
        Path, typer.Argument(help="A stack of interferograms with dates (any product `info` reads).")
    ],
    out: Out,
    model: Model = None,
    config: RunConfig = None,
    mask: Mask = None,
    mask_model: MaskModel = None,
    slow_motion: SlowMotion = None,
    max_pairs: MaxPairs = None,
    target_type: TargetType = None,
    min_slope_deg: MinSlope = None,
    threshold: Threshold = None,
    window: Window = None,
    overlap: Overlap = None,
    batch_size: BatchSize = None,
    min_pixels: MinPixels = None,
    unwrapper: Annotated[str | None, typer.Option()] = None,
    punet_model: Annotated[Path | None, typer.Option()] = None,
    coherence_looks: Annotated[float | None, typer.Option()] = None,
    margin_px: Annotated[int | None, typer.Option()] = None,
    min_coherence: Annotated[float | None, typer.Option()] = None,
    max_crop_px: Annotated[int | None, typer.Option()] = None,
    inventory: Annotated[Path | None, typer.Option()] = None,
    device: Device = None,
    precision: Precision = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    variable: Variable = None,
    lookup: Lookup = None,
    overwrite: RunOverwrite = False,
) -> None:
    """The detection-first chain: mask, detect, then unwrap and invert only around each target; report."""
    from fringenet.config import validate_config
    from fringenet.pipeline.monitor import MonitorConfig, run_monitor

    raw = _run_settings(
        config, model=model, mask=mask, mask_model=mask_model, slow_motion=slow_motion, max_pairs=max_pairs,
        target_type=target_type,
        min_slope_deg=min_slope_deg, threshold=threshold, window=window, overlap=overlap, batch_size=batch_size,
        min_pixels=min_pixels, unwrapper=unwrapper, punet_model=punet_model, coherence_looks=coherence_looks,
        margin_px=margin_px,
        min_coherence=min_coherence, max_crop_px=max_crop_px, inventory=inventory, device=device,
        precision=precision, scheduler=scheduler, workers=workers, variable=variable, lookup=lookup,
    )  # fmt: skip
    cfg = validate_config(MonitorConfig, raw, source=config or "options")
    with _no_folder_on_error(out):
        _print_run(run_monitor(stack, out, cfg, overwrite=overwrite, progress=_interactive()))


@app.command()
@_clear_errors
def report(run_dir: Annotated[Path, typer.Argument(help="A detect/monitor run folder.")]) -> None:
    """Write RUN_DIR/report.html: one self-contained file that works offline."""
    from fringenet.report.html import write_report

    typer.echo(f"wrote {write_report(run_dir)}")


@app.command()
@_clear_errors
def explain(
    model: Annotated[Path, typer.Argument(help="A time-series (temporal) model bundle.")],
    stack: Annotated[Path, typer.Argument(help="The stack of interferograms (any product `info` reads).")],
    out: Out,
    row: Annotated[int | None, typer.Option(help="Pixel row of the place to explain.")] = None,
    col: Annotated[int | None, typer.Option(help="Pixel column of the place to explain.")] = None,
    target: Annotated[
        str | None, typer.Option(help="A target id of RUN/detections.geojson, instead of --row/--col.")
    ] = None,
    run: Annotated[Path | None, typer.Option(help="The detect/monitor run folder of --target.")] = None,
    window: Annotated[int | None, typer.Option(help="Window side (px; default: the model's).")] = None,
    variable: Variable = None,
) -> None:
    """Show what a time-series model attends to around one pixel or target: figures and attention.json."""
    from fringenet.errors import InputError
    from fringenet.pipeline.monitor import open_input
    from fringenet.report.attention import explain_target, target_pixel

    by_pixel, by_target = row is not None and col is not None, target is not None and run is not None
    if by_pixel == by_target or (not by_pixel and (row is not None or col is not None)):
        raise InputError("explain", "give either --row and --col, or --target and --run")
    notes: list[str] = []
    ds = open_input(stack, stack_only=True, notes=notes, variable=variable)
    for note in notes:
        typer.echo(f"note: {note}")
    if by_target:
        assert target is not None and run is not None
        row, col = target_pixel(run, target, ds)
    assert row is not None and col is not None
    for path in explain_target(model, ds, out, row=row, col=col, window=window):
        typer.echo(f"wrote {path}")


@app.command("train-unwrapper")
@_clear_errors
def train_unwrapper(
    config: Annotated[Path, typer.Option(help="PUNet training config YAML (e.g. configs/punet.yaml).")],
    out: Out,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoints (same config).")] = False,
) -> None:
    """Train PUNet on simulated high-gradient patches; writes OUT/model (a bundle)."""
    from fringenet.config import validate_config
    from fringenet.train.punet import PUNetTrainConfig, run_train_punet

    cfg = validate_config(PUNetTrainConfig, _yaml_mapping(config), source=config)
    typer.echo(f"wrote {run_train_punet(cfg, out, resume=resume, progress=True)}")


@models_app.command("list")
@_clear_errors
def models_list() -> None:
    """The models shipped in the package and their size."""
    from fringenet.models.shipped import SHIPPED, WEIGHTS_DIR, bundle_size_mb

    for name, role in SHIPPED.items():
        path = WEIGHTS_DIR / name
        state = (
            f"{bundle_size_mb(path):.1f} MB"
            if (path / "bundle.json").exists()
            else "not trained (make models)"
        )
        typer.echo(f"{name:9s} {state:>12s}  {role}")


@models_app.command("ship")
@_clear_errors
def models_ship(
    bundle: Annotated[Path, typer.Argument(help="A trained bundle folder (e.g. runs/x/model).")],
    name: Annotated[str, typer.Option(help="Name of a shipped model (see `fringenet models list`).")],
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Decision threshold replacing the bundle's (e.g. chosen by benchmarks/select_detector.py)."
        ),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(help="Window side (px) scans use by default, replacing the patch size it trained on."),
    ] = None,
    grow_threshold: Annotated[
        float | None,
        typer.Option(
            help="Hysteresis: detections grow over connected pixels above this (needs --threshold)."
        ),
    ] = None,
) -> None:
    """Copy a trained bundle into the package as a shipped model (<= 20 MB)."""
    from fringenet.models.shipped import ship_bundle

    shipped = ship_bundle(
        bundle, name, threshold=threshold, scan_window=window, grow_threshold=grow_threshold
    )
    typer.echo(f"wrote {shipped}")


@app.command(cls=_schema(MONITOR))
@_clear_errors
def demo(
    out: Out = Path("demo_output"),
    seed: Seed = 0,
    size: Annotated[int, typer.Option(min=64, max=2048, help="Scene height and width (px).")] = 256,
    dates: Annotated[int, typer.Option(min=4, max=200, help="Number of acquisitions.")] = 24,
    workers: Workers = 2,
    scheduler: Scheduler = "local",
) -> None:
    """Simulate a stack with known targets, run `monitor` on it and score it against the truth."""
    from fringenet.pipeline.demo import run_demo

    summary = run_demo(
        out, seed=seed, size=size, n_dates=dates, workers=workers or 2, scheduler=scheduler or "local"
    )
    typer.echo(summary.text)


def main() -> None:
    """Entry point of the ``fringenet`` script."""
    try:
        app(prog_name="fringenet")
    except SystemExit as stop:
        exit_without_teardown(stop.code)
    exit_without_teardown(0)


def exit_without_teardown(code: object) -> NoReturn:
    """End the script as ``sys.exit(code)`` would, but without the interpreter's teardown of every module.

    Unloading torch, xarray and dask takes about 0.6 s, longer than a small scene's scan. The exit
    handlers run and the standard streams are flushed first. Outputs are complete by then: every writer
    renames a finished file into place. A process with live child processes (a Dask cluster) or non-daemon
    threads exits the ordinary way, which waits for them.
    """
    import atexit
    import multiprocessing
    import os
    import threading

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if multiprocessing.active_children() or any(t.is_alive() for t in others):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()

"""``fringenet detect`` over many products in one call: one run folder per product, models loaded once.

``fringenet detect a.tif b.tif ... --out RUNS`` (or ``--each`` over the pairs of a folder or stack)
checks every input and every output folder before any scan, then scans the products one after another
with the same networks and the same Dask client, writing ``RUNS/<product>/`` exactly as a single
``detect`` would and ``RUNS/summary.json``: every product with its folder, status, number of targets,
time and notes, rewritten after each product so a stopped call says how far it got. A product that
fails while scanning (a file damaged past its header) is recorded as failed, its folder removed, and
the others go on: an unattended call over thousands of products does not stop at one.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from fringenet.errors import FringenetError, InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.schema import PAIR_DIM, is_stack
from fringenet.pipeline.monitor import DetectConfig, _bundle, _client, _detect, _paths, open_input
from fringenet.pipeline.radar import quiet_pixel_grids
from fringenet.pipeline.run_folder import RUN_FOLDERS, check_run_folder, clear_run_folder, previous_outputs

SUMMARY = "summary.json"
"""The file at the top of a many-product call's folder that lists its products."""


@dataclass
class Product:
    """One product of a many-product call: what is scanned and where its run folder goes."""

    name: str
    """Run folder name under the call's folder."""
    source: str
    """The input as the user named it (a pair of a stack: ``PATH [pair LABEL]``)."""
    dataset: xr.Dataset = field(repr=False)
    notes: list[str] = field(default_factory=list)


@dataclass
class ProductRun:
    """How one product's scan went (a row of ``summary.json``)."""

    name: str
    input: str
    folder: str
    status: str  # "done" or "failed"
    n_targets: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class ManyResult:
    """What a many-product call wrote."""

    out_dir: Path
    runs: list[ProductRun]
    summary_path: Path
    notes: list[str] = field(default_factory=list)
    """Notes on the whole call (scheduler, what an overwrite removed)."""

    @property
    def failed(self) -> list[ProductRun]:
        return [r for r in self.runs if r.status != "done"]


def folder_name(path: str | Path) -> str:
    """A run folder name for the product at ``path``: its file name without the last suffix, made safe."""
    path = Path(path)
    stem = path.name if path.is_dir() else (path.stem or path.name)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "product"


def products_of(inputs: Sequence[str | Path], config: DetectConfig, *, each: bool = False) -> list[Product]:
    """Open and check every input (:func:`~fringenet.pipeline.monitor.open_input`), before any scan.

    With ``each`` a stack (a folder of pairs, a NetCDF stack...) gives one product per pair, named by
    its pair label (prefixed with the input's name when several inputs are given). Names that collide
    get ``-2``, ``-3``... Raises :class:`InputError` naming the first input that cannot be scanned.
    """
    if not inputs:
        raise InputError("detect", "no input product given")
    products: list[Product] = []
    for path in inputs:
        notes: list[str] = []
        ds = open_input(path, notes=notes, variable=config.variable)
        base = folder_name(path)
        if each and is_stack(ds):
            for k, label in enumerate(map(str, ds[PAIR_DIM].values)):
                pair = ds.isel({PAIR_DIM: k}).drop_vars(PAIR_DIM)  # a single interferogram, dated
                pair.encoding["source"] = f"{path} [pair {label}]"
                name = folder_name(label) if len(inputs) == 1 else f"{base}-{folder_name(label)}"
                products.append(Product(name, f"{path} [pair {label}]", pair, list(notes)))
        else:
            products.append(Product(base, str(path), ds, notes))
    seen: dict[str, int] = {}
    for product in products:
        count = seen.get(product.name, 0) + 1
        seen[product.name] = count
        if count > 1:
            product.name = f"{product.name}-{count}"
    return products


def _check_models(products: Sequence[Product], config: DetectConfig, each: bool) -> None:
    """Refuse a detector the products cannot feed, before any scan (one read of each product's top rows)."""
    from fringenet.detect.scene import check_channels
    from fringenet.detect.sources import DatasetSource
    from fringenet.models.bundle import read_bundle_info

    info = read_bundle_info(_bundle(config.model, "detector"))
    if info.task == "temporal":
        if each:
            raise InputError("--each", "the time-series model scans whole stacks; --each scans single pairs")
        return  # its own check (pair network, dates) runs per stack in prepare_stack
    for product in products:
        check_channels(info, DatasetSource(product.dataset))
    if config.mask == "masknet":
        _bundle(config.mask_model, "masknet")


def _previous_products(out: Path) -> list[Path]:
    """The product folders an earlier many-product call listed in ``out/summary.json``."""
    summary = out / SUMMARY
    if not summary.is_file():
        return []
    try:
        listed = json.loads(summary.read_text()).get("products", [])
        folders = [str(p["folder"]) for p in listed]
        # only names this module makes (folder_name): never a path out of ``out``
        return [out / f for f in folders if re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", f)]
    except (ValueError, AttributeError, KeyError, TypeError) as err:
        raise InputError(
            summary, f"is not a fringenet summary ({err}); remove it or choose another folder"
        ) from err


def _remove_run_files(folder: Path) -> int:
    """Remove the files a detect run wrote in ``folder`` (only fringenet's names; sub-folders and the folder
    itself go when left empty); returns how many files went."""
    files = previous_outputs(folder) if folder.is_dir() else []
    for path in files:
        path.unlink(missing_ok=True)
    for sub in (*(folder / name for name in RUN_FOLDERS), folder):
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()
    return len(files)


def _remove_previous(out: Path, folders: Sequence[Path]) -> list[str]:
    """Remove what an earlier call wrote in ``folders`` and its summary."""
    removed = sum(_remove_run_files(folder) for folder in folders)
    (out / SUMMARY).unlink(missing_ok=True)
    return [f"overwrite: removed {removed} file(s) of the previous call's {len(folders)} product(s) in {out}"]


def _write_summary(
    path: Path, runs: Sequence[ProductRun], config: DetectConfig, notes: Sequence[str], complete: bool
) -> None:
    record = {
        "command": "detect",
        "complete": complete,
        "notes": list(dict.fromkeys(notes)),
        "n_products": len(runs),
        "n_failed": sum(r.status != "done" for r in runs),
        "settings": config.model_dump(mode="json"),
        "products": [asdict(r) for r in runs],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))


@quiet_pixel_grids
def run_detect_many(
    inputs: Sequence[str | Path], out_dir: str | Path, config: DetectConfig | None = None, *,
    each: bool = False, client: Any = None, progress: bool = False, overwrite: bool = False,
) -> ManyResult:  # fmt: skip
    """Scan every product of ``inputs`` (each pair with ``each``) into ``out_dir/<product>/``.

    Every input is opened and checked, and every output folder too, before the first scan; the
    networks are loaded once and one Dask client (``config.scheduler``; ``auto`` decides by the
    largest product) serves all products. A folder holding a previous call's or run's outputs is
    refused unless ``overwrite``, which removes those files first (never other files).
    """
    from fringenet.models.bundle import bundles_loaded_once

    out = Path(out_dir)
    config = config or DetectConfig()
    keep = _paths(*inputs)
    previous_folders = _previous_products(out)
    top = check_run_folder(out, overwrite=overwrite, keep=keep)  # a single run here is refused too
    if previous_folders and not overwrite:
        raise InputError(
            out, f"holds a previous call's {SUMMARY}; pass --overwrite to replace it or choose another folder"
        )
    products = products_of(inputs, config, each=each)
    _check_models(products, config, each)
    previous = {p.name: check_run_folder(out / p.name, overwrite=overwrite, keep=keep) for p in products}
    notes = clear_run_folder(out, top)
    if previous_folders:
        notes += _remove_previous(out, [f for f in previous_folders if f.name not in previous])
    summary_path = out / SUMMARY
    runs: list[ProductRun] = []
    largest = max((p.dataset for p in products), key=lambda ds: ds.sizes["y"] * ds.sizes["x"])
    own_client = client is None
    client = _client(config, largest, notes) if own_client else client
    try:
        with bundles_loaded_once():
            for product in tqdm(products, desc="products", disable=not progress or len(products) < 2):
                runs.append(_scan_product(product, out, config, client, progress, previous[product.name]))
                _write_summary(summary_path, runs, config, notes, complete=False)
    finally:
        if own_client and client is not None:
            client.close()
    _write_summary(summary_path, runs, config, notes, complete=True)
    return ManyResult(out, runs, summary_path, notes)


def _scan_product(
    product: Product, out: Path, config: DetectConfig, client: Any, progress: bool, previous: list[Path]
) -> ProductRun:
    """One product's detect run in ``out/product.name``; a failure is recorded and what it wrote removed (the
    whole folder when this run made it)."""
    folder = out / product.name
    existed = folder.exists()
    t0 = time.perf_counter()
    notes = list(product.notes)
    try:
        notes[:0] = clear_run_folder(folder, previous)
        result = _detect(
            product.dataset, product.source, folder, config, client, progress, notes, shared_client=True
        )
    except FringenetError as err:
        if existed:
            _remove_run_files(folder)  # no half of this run beside files that were there before
        else:
            shutil.rmtree(folder, ignore_errors=True)
        return ProductRun(product.name, product.source, product.name, "failed", 0,
                          round(time.perf_counter() - t0, 2), list(dict.fromkeys(notes)), str(err))  # fmt: skip
    return ProductRun(
        product.name, product.source, product.name, "done", len(result.detections),
        round(time.perf_counter() - t0, 2), list(dict.fromkeys(result.notes)),
    )  # fmt: skip

"""Scale-out benchmark: the same whole-scene scan on a Dask LocalCluster of 1 and of 2 workers.

Each worker is a process with one thread and one torch thread; each band of windows is one task.
Workers import fringenet (and torch) and load the bundle before the clock starts, so the times
compare scanning, not start-up. Prints a markdown table of seconds, Mpx/s and the speed-up over
one worker.

    python benchmarks/scaleout.py                   # 2048 x 2048
    python benchmarks/scaleout.py --size 1024       # quick check

Running on a multi-node cluster
-------------------------------
Start a scheduler on one machine and workers on the others (same Python environment with
fringenet installed everywhere; one single-threaded worker process per core is a good default,
as each task runs one torch thread under Dask's default ``OMP_NUM_THREADS=1``)::

    dask-scheduler --port 8786                                  # on HOST
    dask-worker tcp://HOST:8786 --nworkers 8 --nthreads 1       # on each worker machine

then point the scan at it::

    python benchmarks/scaleout.py --scheduler tcp://HOST:8786
    fringenet detect ... --scheduler tcp://HOST:8786

The input files and the model bundle must be readable by every worker at the same path (a shared
file system): workers read their own rows of the scene and load the bundle themselves; only the
finished bands travel back to the driver, which writes the GeoTIFFs. An address where no scheduler
answers fails after a short timeout with a clear message.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from detect import make_scene, resolve_model


def _load(bundle: str) -> None:
    from fringenet.detect.scene import worker_model

    worker_model(bundle, "cpu")


def _warm(client: Any, bundle: Path) -> None:
    """Import torch and load the bundle on every worker (what a long scan pays once)."""
    client.run(_load, str(bundle.absolute()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="scene side (px)")
    parser.add_argument(
        "--model", default=None, help="bundle folder (default: shipped detector or fresh mit_b0)"
    )
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="LocalCluster sizes to compare"
    )
    parser.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a running scheduler instead")
    args = parser.parse_args()

    from fringenet.detect import GeoTiffSource, connect, scan_scene

    rows = []
    with tempfile.TemporaryDirectory(prefix="fringenet-scaleout-") as tmp:
        folder = Path(tmp)
        phase, coherence = make_scene(folder, args.size)
        bundle, how = resolve_model(args.model, folder)
        source = GeoTiffSource(phase, coherence=coherence)
        setups = [(f"scheduler {args.scheduler}", args.scheduler, 0)] if args.scheduler else [
            (f"LocalCluster, {n} worker{'s' * (n > 1)}", None, n) for n in args.workers
        ]  # fmt: skip
        for label, scheduler, n in setups:
            with connect(scheduler, n) as client:
                _warm(client, bundle)
                scan = scan_scene(
                    bundle, source, folder / f"run{n}", window=args.window, overlap=args.overlap,
                    batch_size=args.batch, device="cpu", client=client, worker_threads=1,
                )  # fmt: skip
                rows.append((label, len(client.nthreads()), scan))
    print(f"Model: {how}. Scene {args.size} x {args.size} px, window {rows[0][2].window}, "
          f"overlap {args.overlap}, batch {args.batch}, one torch thread per worker.\n")  # fmt: skip
    print("| cluster | workers | seconds | Mpx/s | speed-up |")
    print("|---|---|---|---|---|")
    base = rows[0][2].seconds
    for label, n, scan in rows:
        speed = f"{scan.megapixels_per_s:.2f} | {base / scan.seconds:.2f}x"
        print(f"| {label} | {n} | {scan.seconds:.1f} | {speed} |")


if __name__ == "__main__":
    main()

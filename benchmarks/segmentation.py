"""Segmentation benchmark: the landslide thesis's two tables on a simulated multi-region dataset.

Table 1 compares architectures (the thesis's four plus two compact CPU models), table 2 SegFormer
mit_b2 with Gaussian label smoothing sigma 0/3/5 px. Every model trains for the same number of
patch draws with the thesis protocol (masked BCE, bucket sampling, small-object crops, flips and
rotations, threshold chosen on validation) and is scored on the test split beside the non-learned
baselines. Training throughput (patches/s) and inference throughput (megapixels/s) are measured in
the same run. Runs are kept under OUT and skipped when their model exists, so an interrupted
benchmark resumes.

    python benchmarks/segmentation.py --out benchmarks/output/segmentation            # ~15 min, 2 cores
    python benchmarks/segmentation.py --quick --out /tmp/seg                            # smoke test
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fringenet.data.config import DatasetConfig
from fringenet.pipeline.dataset import run_build_dataset, splits_markdown
from fringenet.pipeline.evaluate import run_evaluate
from fringenet.train.config import TrainConfig
from fringenet.train.trainer import run_train

ARCHITECTURES = [
    ("unet-resnet34", "unet", "resnet34"),
    ("upernet-convnext_tiny", "upernet", "tu-convnext_tiny"),
    ("segformer-mit_b2", "segformer", "mit_b2"),
    ("segformer-mit_b3", "segformer", "mit_b3"),
    ("unet-resnet18 (CPU)", "unet", "resnet18"),
    ("segformer-mit_b0 (CPU)", "segformer", "mit_b0"),
]
SIGMAS = (0.0, 3.0, 5.0)


def slug(name: str) -> str:
    return name.split(" ")[0]


def train_and_score(
    name: str,
    architecture: str,
    encoder: str,
    sigma: float,
    dataset: Path,
    out: Path,
    args: argparse.Namespace,
) -> dict:
    run = out / "runs" / f"{slug(name)}-sigma{sigma:g}"
    config = TrainConfig(
        dataset=dataset,
        model={"architecture": architecture, "encoder": encoder},
        loss={"label_sigma_px": sigma},
        sampling={"samples_per_epoch": args.samples_per_epoch},
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    if not (run / "model" / "bundle.json").exists():
        if (run / "checkpoints" / "last.pt").exists():
            run_train(config, run, resume=True, progress=False)
        else:
            run_train(config, run, progress=False)
    evaluation = run_evaluate(run, dataset, run / "eval-test")
    from fringenet.models.bundle import read_bundle_info

    info = read_bundle_info(run / "model")
    train_rate, infer_rate = throughput(
        architecture, encoder, len(info.channels), info.patch_size, args.batch_size
    )
    return {
        "name": name,
        "sigma": sigma,
        "results": evaluation.results,
        "train_patches_per_s": train_rate,
        "inference_mpx_per_s": infer_rate,
        "parameters_m": info.provenance["parameters"] / 1e6,
        "best_epoch": info.provenance["best_epoch"],
    }


def throughput(
    architecture: str, encoder: str, channels: int, patch: int, batch: int, steps: int = 3
) -> tuple:
    """Training patches/s (forward, backward, AdamW step) and inference megapixels/s, timed after a warm-up.

    Measured on its own rather than from the training log, so other work on the machine during
    training does not distort it.
    """
    import torch

    from fringenet.models.segmentation import ModelSpec, build_segmentation_model

    torch.manual_seed(0)
    model = build_segmentation_model(
        ModelSpec(architecture=architecture, encoder=encoder, in_channels=channels)
    )
    optimiser = torch.optim.AdamW(model.parameters())
    x = torch.randn(batch, channels, patch, patch)

    def step() -> None:
        optimiser.zero_grad()
        model(x).mean().backward()
        optimiser.step()

    model.train()
    step()
    tic = time.perf_counter()
    for _ in range(steps):
        step()
    train_rate = steps * batch / (time.perf_counter() - tic)
    model.eval()
    with torch.no_grad():
        model(x)
        tic = time.perf_counter()
        for _ in range(steps):
            model(x)
    infer_rate = steps * x[:, 0].numel() / 1e6 / (time.perf_counter() - tic)
    return train_rate, infer_rate


def _read_history(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def row(label: str, m: dict, extra: str = "") -> str:
    p, o, s = m["pixel"], m["objects"], m["by_size"]
    iou = " | ".join(
        f"{s[k]['pixel']['iou']:.3f}" if s[k]["n_patches"] else "–" for k in ("small", "medium", "large")
    )
    thr = "–" if m["threshold"] is None else f"{m['threshold']:.2f}"
    return (
        f"| {label} | {thr} | {p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} | {p['iou']:.3f} | {iou} | "
        f"{o['recall']:.3f} | {o['precision']:.3f} |{extra}"
    )


HEAD = (
    "| method | threshold | precision | recall | F1 | IoU | IoU small | IoU medium | IoU large | object recall | "
    "object precision |"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/segmentation"))
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--scene-size", type=int, default=256)
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--samples-per-epoch", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="Tiny sizes, two models: checks the script runs."
    )
    parser.add_argument("--markdown", type=Path, help="Also write the tables to this file.")
    args = parser.parse_args()
    architectures = ARCHITECTURES
    if args.quick:
        args.scenes, args.scene_size, args.patch_size, args.epochs, args.samples_per_epoch = 6, 64, 32, 1, 8
        architectures = [a for a in ARCHITECTURES if "CPU" in a[0]]
    dataset = args.out / "dataset"
    if not (dataset / "dataset.json").exists():
        config = DatasetConfig(
            patch_size=args.patch_size,
            block_px=args.scene_size,
            seed=args.seed,
            simulate={
                "n_scenes": args.scenes,
                "height": args.scene_size,
                "width": args.scene_size,
                "seed": args.seed,
            },
        )
        run_build_dataset(config, dataset)
    info = json.loads((dataset / "dataset.json").read_text())
    lines = [
        f"Dataset: {args.scenes} simulated scenes of {args.scene_size}² px (scenario mixed, 20 % hard negatives), "
        f"{args.patch_size}² patches, channels {', '.join(info['channels'])}.",
        "",
        splits_markdown(info["splits"]),
        f"Training: {args.epochs} epochs x {args.samples_per_epoch} bucket-sampled patches, batch {args.batch_size}, "
        f"AdamW lr {args.learning_rate:g} cosine, masked BCE, seed {args.seed}; threshold = max IoU on val; test split.",
        "",
    ]
    scored = [train_and_score(n, a, e, 0.0, dataset, args.out, args) for n, a, e in architectures]
    baselines = {k: v for k, v in scored[0]["results"].items() if k != "model"}
    lines += [
        "### Table 1: architectures (sigma = 0)",
        "",
        HEAD + " params (M) | train patches/s | inference MP/s |",
    ]
    lines += ["|---" * 14 + "|"]
    for s in scored:
        extra = (
            f" {s['parameters_m']:.1f} | {s['train_patches_per_s']:.1f} | {s['inference_mpx_per_s']:.2f} |"
        )
        lines.append(row(s["name"], s["results"]["model"], extra))
    for name, m in baselines.items():
        lines.append(row(f"baseline: {name}", m, " – | – | – |"))
    if not args.quick:
        b2 = next(s for s in scored if s["name"] == "segformer-mit_b2")
        smoothed = [b2] + [
            train_and_score("segformer-mit_b2", "segformer", "mit_b2", sigma, dataset, args.out, args)
            for sigma in SIGMAS[1:]
        ]
        lines += [
            "",
            "### Table 2: SegFormer mit_b2, label smoothing",
            "",
            HEAD.replace("| method", "| sigma (px)"),
        ]
        lines += ["|---" * 11 + "|"]
        lines += [row(f"{s['sigma']:g}", s["results"]["model"]) for s in smoothed]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()

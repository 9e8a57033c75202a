"""Train/validation/test splits that keep neighbouring patches together and balance the labels."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from fringenet.errors import InputError

SPLITS = ("train", "val", "test")


def spatial_blocks(rows: NDArray[np.integer], cols: NDArray[np.integer], block_px: int) -> NDArray[np.int64]:
    """Block index of each patch origin on a grid of ``block_px`` square blocks (scene pixels)."""
    brow = np.asarray(rows) // block_px
    bcol = np.asarray(cols) // block_px
    return (brow * 100_000 + bcol).astype(np.int64)


def assign_splits(
    groups: NDArray[np.str_] | list[str],
    labelled_px: NDArray[np.integer],
    fractions: Mapping[str, float],
    seed: int = 0,
    n_strata: int = 3,
) -> NDArray[np.str_]:
    """Assign whole groups of patches to splits, stratified by their number of labelled pixels.

    Groups (a scene, a region or a spatial block) never straddle two splits, so neighbouring,
    overlapping-in-content patches cannot leak from training into evaluation. Groups are ordered
    by stratum (most labelled first, label-free last) with a seeded shuffle inside each, and
    each group goes to the split furthest below its target fraction of patches. Every split gets a
    group first when there are enough groups.

    Parameters
    ----------
    groups
        Group key of each patch, shape ``(N,)``.
    labelled_px
        Labelled pixels of each patch, ``(N,)``.
    fractions
        Target fraction per split name (they must sum to 1).
    seed
        Seed of the shuffle.
    n_strata
        Number of quantile strata among labelled groups.

    Returns
    -------
    ndarray of str, ``(N,)``: the split of each patch.
    """
    names = list(fractions)
    target = np.array([fractions[n] for n in names], dtype=np.float64)
    if np.any(target < 0) or not np.isclose(target.sum(), 1.0):
        raise InputError(
            "splits", f"split fractions must be non-negative and sum to 1 (got {dict(fractions)})"
        )
    keys = np.asarray(groups).astype(str)
    unique, inverse = np.unique(keys, return_inverse=True)
    sizes = np.bincount(inverse, minlength=unique.size)
    labelled = np.bincount(inverse, weights=np.asarray(labelled_px, dtype=np.float64), minlength=unique.size)
    density = labelled / np.maximum(sizes, 1)
    stratum = np.zeros(unique.size, dtype=np.int64)
    positive = density > 0
    if positive.any():
        edges = np.quantile(density[positive], np.linspace(0, 1, n_strata + 1)[1:-1])
        stratum[positive] = 1 + np.searchsorted(edges, density[positive], side="right")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(unique.size), -stratum))
    counts = np.zeros(len(names), dtype=np.float64)
    choice = np.empty(unique.size, dtype=np.int64)
    wanted = [k for k in np.argsort(-target) if target[k] > 0]
    for position, g in enumerate(order):
        if position < len(wanted):
            k = wanted[position]  # seed every split that wants patches with one group
        else:
            deficit = target * (counts.sum() + sizes[g]) - counts
            k = int(np.argmax(np.where(target > 0, deficit, -np.inf)))
        choice[g] = k
        counts[k] += sizes[g]
    return np.asarray(names, dtype=str)[choice[inverse]]


def split_table(
    split: NDArray[np.str_], labelled_px: NDArray[np.integer], groups: NDArray[np.str_]
) -> list[dict]:
    """Per split: patches, groups, patches with labels, labelled pixels (a JSON-able list of rows)."""
    rows = []
    for name in sorted(set(split.tolist()), key=lambda s: (SPLITS.index(s) if s in SPLITS else 99, s)):
        sel = split == name
        rows.append(
            {
                "split": name,
                "patches": int(sel.sum()),
                "groups": int(np.unique(np.asarray(groups)[sel]).size),
                "patches_with_labels": int((np.asarray(labelled_px)[sel] > 0).sum()),
                "labelled_pixels": int(np.asarray(labelled_px)[sel].sum()),
            }
        )
    return rows

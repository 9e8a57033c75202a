#!/usr/bin/env bash
# Build a separate virtualenv with MintPy for the peer rows of benchmarks/sbas.py:
#
#     bash benchmarks/mintpy-env.sh [VENV]            # default VENV: /tmp/fringenet-mintpy-venv
#     .venv/bin/python benchmarks/sbas.py --mintpy-python VENV/bin/python
#
# Kept apart from the project's .venv because MintPy brings some 80 packages fringenet does not
# need (cartopy, dask, pyaps3, pysolid, h5py, ...). All install as wheels from PyPI; no system
# library is needed. benchmarks/sbas.py calls only mintpy.ifgram_inversion.estimate_timeseries and
# the design matrices of mintpy.objects.ifgramStack (through benchmarks/mintpy_peer.py).
# MINTPY_VERSION: the version measured in docs/benchmarks.md; MINTPY_VERSION= takes the newest.
set -euo pipefail

VENV="${1:-/tmp/fringenet-mintpy-venv}"
PYTHON="${PYTHON:-python3}"
MINTPY_VERSION="${MINTPY_VERSION-1.6.4}"

echo "building ${VENV} (mintpy ${MINTPY_VERSION:-newest})"
"${PYTHON}" -m venv "${VENV}"
PIP=("${VENV}/bin/python" -m pip install -q)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "mintpy${MINTPY_VERSION:+==${MINTPY_VERSION}}"

"${VENV}/bin/python" - <<'PY'
from importlib.metadata import version

from mintpy.ifgram_inversion import estimate_timeseries  # noqa: F401
from mintpy.objects import ifgramStack  # noqa: F401

print("mintpy", version("mintpy"), "| numpy", version("numpy"), "| scipy", version("scipy"))
PY

#!/usr/bin/env bash
# Build a separate virtualenv with dolphin (OPERA's phase-linking workflow) for the peer rows of
# benchmarks/phase_linking.py:
#
#     bash benchmarks/dolphin-env.sh [VENV]            # default VENV: /tmp/fringenet-dolphin-venv
#     .venv/bin/python benchmarks/phase_linking.py --dolphin-python VENV/bin/python
#
# Kept apart from the project's .venv because dolphin pins its own numpy/jax and needs GDAL's Python
# bindings, which pip can only build against the system GDAL (Debian's libgdal-dev).
# Why the pins:
# - gdal: the bindings must match the system library exactly, and build against the venv's numpy
#   (hence --no-build-isolation after numpy is in).
# - jax/jaxlib 0.7.2: with jax 0.10 dolphin's default (jax) phase linking deadlocks on CPU.
# Needs root (or an existing libgdal-dev) and only PyPI and Debian's package archive.
set -euo pipefail

VENV="${1:-/tmp/fringenet-dolphin-venv}"
PYTHON="${PYTHON:-python3}"
JAX_VERSION="${JAX_VERSION:-0.7.2}"

if ! command -v gdal-config >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libgdal-dev
fi
GDAL_VERSION="$(gdal-config --version)"
echo "system GDAL ${GDAL_VERSION}; building ${VENV}"

"${PYTHON}" -m venv "${VENV}"
PIP=("${VENV}/bin/python" -m pip install -q)
"${PIP[@]}" --upgrade pip setuptools wheel
# numpy first: GDAL's bindings compile against it, and must see the numpy 2 that jax 0.7 needs
NUMPY_SPEC="numpy>=2,<2.5"
"${PIP[@]}" "${NUMPY_SPEC}"
# no cache: a wheel cached from a build against another numpy would not import
"${PIP[@]}" --no-build-isolation --no-cache-dir "gdal==${GDAL_VERSION}"
"${PIP[@]}" dolphin "${NUMPY_SPEC}" "jax==${JAX_VERSION}" "jaxlib==${JAX_VERSION}"

"${VENV}/bin/python" - <<'EOF'
from importlib.metadata import version

from osgeo import gdal
from dolphin.phase_link import run_phase_linking  # noqa: F401

print("dolphin", version("dolphin"), "| gdal", gdal.__version__, "| numpy", version("numpy"),
      "| jax", version("jax"))
EOF

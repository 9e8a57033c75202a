"""Acquisition dates of an interferogram from a file or variable name.

Recognised forms (anywhere in the name, not glued to other digits):

- ``YYYYMMDD_YYYYMMDD`` / ``YYYYMMDD-YYYYMMDD`` (LiCSAR ``20200101_20200113.geo.diff_pha.tif``,
  GAMMA, ISCE, MintPy),
- ``YYMMDD-YYMMDD`` / ``YYMMDD_YYMMDD`` (ROI_PAC and PyRate ``geo_060619-061002_unw.tif``); two-digit
  years ``>= 90`` are 19xx, the others 20xx,
- ``DDMonYYYY_DDMonYYYY`` (SNAP band names ``Phase_ifg_VV_01Jan2020_13Jan2020``), via
  :func:`parse_snap_dates`.
"""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd

_EIGHT = re.compile(r"(?<!\d)(\d{8})[_-](\d{8})(?!\d)")
_SIX = re.compile(r"(?<!\d)(\d{6})[_-](\d{6})(?!\d)")
_SNAP = re.compile(r"(?<![0-9])(\d{2}[A-Za-z]{3}\d{4})[_-](\d{2}[A-Za-z]{3}\d{4})(?![0-9])")

# Spaceborne SAR starts with Seasat (1978); anything outside this range is a false match
# (e.g. an orbit or frame number), not a date.
_FIRST_YEAR, _LAST_YEAR = 1978, 2100


def _date(text: str, fmt: str) -> pd.Timestamp | None:
    try:
        value = datetime.strptime(text, fmt)
    except ValueError:
        return None
    if not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        return None
    return pd.Timestamp(value)


def _short_date(text: str) -> pd.Timestamp | None:
    century = "19" if int(text[:2]) >= 90 else "20"
    return _date(century + text, "%Y%m%d")


def parse_pair_dates(name: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Reference and secondary dates of a pair named in ``name``, or None when there are none.

    Parameters
    ----------
    name
        A file name or path (only its text is used), e.g. ``"20200101_20200113.geo.unw.tif"``.

    Returns
    -------
    tuple of pandas.Timestamp or None
        ``(reference, secondary)`` in the order they appear; impossible calendar dates
        (e.g. ``20201345``) are rejected and the search continues.
    """
    text = str(name)
    for match in _EIGHT.finditer(text):
        ref, sec = _date(match[1], "%Y%m%d"), _date(match[2], "%Y%m%d")
        if ref is not None and sec is not None:
            return ref, sec
    for match in _SIX.finditer(text):
        ref, sec = _short_date(match[1]), _short_date(match[2])
        if ref is not None and sec is not None:
            return ref, sec
    return parse_snap_dates(text)


def parse_snap_dates(name: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Dates written SNAP-style, ``..._01Jan2020_13Jan2020``, or None when absent."""
    for match in _SNAP.finditer(str(name)):
        ref, sec = _date(match[1].title(), "%d%b%Y"), _date(match[2].title(), "%d%b%Y")
        if ref is not None and sec is not None:
            return ref, sec
    return None

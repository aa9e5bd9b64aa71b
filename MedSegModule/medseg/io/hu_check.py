"""Can these CT values be Hounsfield units? The histogram decides, whatever the header claims.

Some series store values that are not HU although their rescale says they are: the classic case
is an intercept of 0 (or none) over stored values in which air is 0 and soft tissue about 1024,
so nothing lies near -1000. Taken at face value, every voxel of such a head reads as bone.

:func:`inspect_values` reads the histogram: the air mode (the densest 10-unit bin at the low
end), the soft-tissue mode, the share of values near -1000, and percentiles. Values are
*offset* when all of these agree: almost nothing below -500, an air mode within
:data:`OFFSET_AIR` and a soft-tissue mode within :data:`OFFSET_TISSUE` (1024 above where HU put
them); then the correction is -1024, and only then. Values with air near -1000 are *HU* and are
never touched. Anything else is *unclear*: reported, not corrected.

Padding (one value repeated over the out-of-field corners, such as 0 or -2048) is left out of
the histogram: it is a fill value, not a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The correction for stored values whose intercept is missing (the usual CT intercept).
OFFSET_HU = -1024.0
#: Where air and soft tissue lie in stored values offset by +1024 (air -1000 HU -> ~24).
OFFSET_AIR, OFFSET_TISSUE = (-100.0, 300.0), (874.0, 1224.0)
#: Where they lie in HU.
HU_AIR, HU_TISSUE = (-1150.0, -850.0), (-150.0, 200.0)
#: Least share of the values a mode bin must hold to count as one (air or tissue).
MODE_SHARE = 0.002
#: Largest share of values below -500 that offset data may have (noise, a stray value).
OFFSET_MAX_BELOW = 0.001
#: A value repeated over at least this share of the grid, at the low end, is padding.
PADDING_SHARE = 0.01
#: Least share of the values within TISSUE_HALF_WIDTH of an offset soft-tissue mode: soft tissue is the
#: largest class of any CT of a body, while the bone of an HU crop without air spreads over 1000s.
TISSUE_SHARE, TISSUE_HALF_WIDTH = 0.15, 150.0
#: Bin width of the mode histogram (stored units).
BIN = 10.0
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass
class HUCheck:
    """What the histogram says. ``verdict``: "hu", "offset" (corrected by ``shift``) or "unclear".

    ``air_mode``/``tissue_mode`` are bin centres in the values inspected (None when no mode);
    ``percentiles`` are of those values, padding left out; ``evidence`` is one human sentence.
    """

    verdict: str
    shift: float = 0.0
    evidence: str = ""
    air_mode: float | None = None
    tissue_mode: float | None = None
    below_minus500: float = 0.0
    percentiles: dict = field(default_factory=dict)
    padding_value: float | None = None
    padding_share: float = 0.0

    def as_meta(self) -> dict:
        """JSON-ready facts for ``meta["hu_check"]`` (and `medseg info`)."""
        r = lambda v: None if v is None else round(float(v), 1)  # noqa: E731
        return {"verdict": self.verdict, "shift_hu": self.shift, "evidence": self.evidence,
                "air_mode": r(self.air_mode), "tissue_mode": r(self.tissue_mode),
                "below_minus500_fraction": round(self.below_minus500, 5),
                "percentiles": {f"p{k}": r(v) for k, v in self.percentiles.items()},
                "padding_value": r(self.padding_value), "padding_fraction": round(self.padding_share, 4)}


def _sample(values: np.ndarray, most: int = 2_000_000) -> np.ndarray:
    v = np.asarray(values).ravel()
    return v[:: max(1, v.size // most)].astype(np.float64)


def _mode(v: np.ndarray, band: tuple[float, float]) -> float | None:
    """Centre of the densest BIN-wide bin of ``v`` inside ``band``, or None when it holds too few values."""
    inside = v[(v >= band[0]) & (v < band[1])]
    if inside.size < MODE_SHARE * v.size or inside.size == 0:
        return None
    edges = np.arange(band[0], band[1] + BIN, BIN)
    counts, _ = np.histogram(inside, edges)
    k = int(np.argmax(counts))
    if counts[k] < MODE_SHARE * v.size:
        return None
    return float(edges[k] + BIN / 2)


def _in(value: float | None, band: tuple[float, float]) -> bool:
    return value is not None and band[0] <= value < band[1]


def inspect_values(values: np.ndarray, intercept: float | None = None) -> HUCheck:
    """Judge values a loader produced as CT HU (any shape; a regular sample of ≤ 2 M is read).

    ``intercept`` is the header's rescale intercept when there is one (named in the evidence).
    """
    v = _sample(values)
    if v.size == 0:
        return HUCheck("unclear", evidence="no values")
    low = float(v.min())
    pad_share = float(np.count_nonzero(v == low)) / v.size
    padding = low if pad_share >= PADDING_SHARE else None
    if padding is not None:
        v = v[v != low]
        if v.size == 0:
            return HUCheck("unclear", evidence=f"every value is {low:g}", padding_value=low, padding_share=pad_share)
    pct = dict(zip(PERCENTILES, np.percentile(v, PERCENTILES).tolist()))
    below = float(np.count_nonzero(v < -500.0)) / v.size
    common = dict(percentiles=pct, below_minus500=below, padding_value=padding, padding_share=pad_share)
    air, tissue = _mode(v, HU_AIR), _mode(v, HU_TISSUE)
    if _in(air, HU_AIR):
        return HUCheck("hu", 0.0, f"air at {air:.0f} HU", air, tissue, **common)
    off_air, off_tissue = _mode(v, OFFSET_AIR), _mode(v, OFFSET_TISSUE)
    header = "" if intercept is None else f", with RescaleIntercept {intercept:g} in the header"
    tissue_share = 0.0 if off_tissue is None else float(
        np.count_nonzero(np.abs(v - off_tissue) <= TISSUE_HALF_WIDTH)) / v.size
    if below <= OFFSET_MAX_BELOW and off_air is not None and off_tissue is not None and tissue_share >= TISSUE_SHARE:
        evidence = (f"nothing near -1000 ({below:.2%} of values below -500), an air peak at {off_air:.0f} and a "
                    f"soft-tissue peak at {off_tissue:.0f} ({tissue_share:.0%} of values within 150 of it){header}: air and tissue sit 1024 above HU")
        return HUCheck("offset", OFFSET_HU, evidence, off_air, off_tissue, **common)
    evidence = (f"no air peak near -1000 HU ({below:.2%} of values below -500; 5th-95th percentiles "
                f"{pct[5]:.0f}..{pct[95]:.0f}){header}, and no clear +1024 offset either")
    return HUCheck("unclear", 0.0, evidence, off_air, off_tissue if off_tissue is not None else tissue, **common)


def warning_for(check: HUCheck, corrected: bool) -> str | None:
    """The one warning line for a finding, or None for values that look like HU."""
    if check.verdict == "hu":
        return None
    if check.verdict == "offset" and corrected:
        return (f"stored values cannot be HU: {check.evidence}; corrected by {check.shift:+.0f} HU "
                "(--rescale-intercept V sets the intercept instead)")
    if check.verdict == "offset":
        return f"values do not look like HU: {check.evidence}; kept as the rescale given makes them"
    return f"values do not look like HU: {check.evidence}; not corrected (--rescale-intercept V sets the intercept)"


__all__ = ["HUCheck", "inspect_values", "warning_for", "OFFSET_HU"]

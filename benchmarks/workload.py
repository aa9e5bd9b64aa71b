"""The benchmark workload: the real JPEG 2000 abdomen (ct-abdomen-20) repeated to N slices at new positions.

Each output slice is one of the 20 real files, unchanged pixel data (the JPEG 2000 stream is
copied, not re-encoded), with a new ImagePositionPatient 2 mm further along, a new
InstanceNumber and new UIDs. Copies alternate in direction (forward, mirrored, forward ...) so
that anatomy stays continuous along z. The series gets Study/Series/SOP UIDs (the originals are
blank) so that ``run`` writes its DICOM SEG as it would for a clinical series.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ABDOMEN = REPO.parent / "shared" / "data" / "ct-abdomen-20" / "dicom"


def write_series(outdir: str | os.PathLike, n_slices: int, source: Path = ABDOMEN) -> Path:
    """Write ``n_slices`` files into ``outdir`` and return it; reuses a complete earlier copy."""
    import pydicom
    from pydicom.uid import CTImageStorage, generate_uid

    out = Path(outdir)
    done = out / ".complete"
    if done.exists() and done.read_text() == str(n_slices):
        return out
    out.mkdir(parents=True, exist_ok=True)
    sources = [pydicom.dcmread(p) for p in sorted(source.iterdir()) if p.is_file()]
    sources.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    z0 = float(sources[0].ImagePositionPatient[2])
    step = 2.0
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    n = len(sources)
    for k in range(n_slices):
        block, i = divmod(k, n)
        ds = sources[i if block % 2 == 0 else n - 1 - i]
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], z0 + step * k]
        ds.SliceLocation = z0 + step * k
        ds.InstanceNumber = k + 1
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.save_as(out / f"slice{k:04d}.dcm")
    done.write_text(str(n_slices))
    return out

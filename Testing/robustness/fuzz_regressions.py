"""Inputs the fuzzer (fuzz.py) found failing, kept as the mutations that make them from a seed.

Each ``Case(seed, slot, mutations, load_file)`` is rebuilt from the generated seeds (no binary is
committed) and must load or raise MedSegError, like every fuzz case. The first group broke
``medseg.io.load`` before the data-safety work (pydicom's BytesLengthException and
NotImplementedError for an unknown VR, a MemoryError); the second broke the volume-file check
while it was written (zlib.error from a damaged gzip header).
"""

from fuzz import Case

REGRESSIONS = [
    # pydicom: NotImplementedError "Unknown Value Representation" in the file meta / image tags
    Case("phantom-j2k", 1, (("insert", 139, "6f"),), load_file=True),
    Case("phantom", 0, (("truncate", 2222), ("flip", 1041, 128), ("insert", 249, "42")), load_file=True),
    Case("real-head-64", 0, (("truncate", 1220), ("delete", 789, 2)), load_file=False),
    # pydicom: BytesLengthException while parsing (0002,0000), and a MemoryError
    Case("real-chest", 1, (("flip", 818, 32), ("duplicate", 87453, 4, 1000), ("delete", 135, 16)), load_file=True),
    Case("real-head-tilt", 0, (("flip", 631, 37), ("delete", 409862, 256), ("flip", 1574, 8)), load_file=False),
    Case("real-head-tilt", 1, (("duplicate", 139868, 1024, 405908), ("flip", 578, 1), ("flip", 174567, 10)),
         load_file=True),
    # zlib.error from gzip while reading a NIfTI header
    Case("volume.nii.gz", 0, (("insert", 6, "c1"),)),
    Case("volume.nii.gz", 0, (("duplicate", 130, 1024, 50),)),
    Case("volume.nii.gz", 0, (("flip", 135, 8), ("insert", 112, "054a7b32738bba72"))),
]

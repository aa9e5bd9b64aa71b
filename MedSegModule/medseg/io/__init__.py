"""Input and output: DICOM discovery and HU conversion, volume files, seg.nrrd, atomic writers.

Everything that reads returns SimpleITK images in LPS; everything that writes goes through
:func:`atomic_output` and refuses to overwrite an input.
"""

from .atomic import atomic_output, check_output_path, check_outputs, clear_protected, protect_inputs
from .dicom.discover import Discovery, Series, choose_series, discover
from .dicom.geometry import SeriesGeometry
from .dicom.regularize import RegularGrid, plan_grid, regularize
from .loader import input_files, load, load_series
from .label_files import read_label_image, write_label_image
from .volumes import is_volume_file, read_volume, write_volume

__all__ = [
    "atomic_output", "check_output_path", "check_outputs", "clear_protected", "protect_inputs", "Discovery", "Series", "choose_series", "discover",
    "input_files", "load", "load_series", "is_volume_file", "read_volume", "write_volume",
    "read_label_image", "write_label_image", "SeriesGeometry", "RegularGrid", "plan_grid", "regularize",
]

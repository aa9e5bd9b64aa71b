"""medseg: CT segmentation toolkit behind the MedSeg Slicer module and the `medseg` CLI.

Pure Python: no ``slicer``, ``qt``, ``ctk`` or ``vtk`` imports outside ``medseg.mrml``.
"""

__version__ = "0.1.0"

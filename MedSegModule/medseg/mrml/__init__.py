"""MRML adapter: the only medseg package that imports ``slicer`` and ``vtk`` (never Qt).

It runs inside the Slicer application and under the ``slicer-core`` wheel (see DESIGN.md).
"""

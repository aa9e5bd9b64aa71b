"""The pipeline: the only place where stages are composed.

- :mod:`.steps`: one function per stage on images (convert, clean, lungs, autolabel, predict),
  each returning a result dataclass;
- :mod:`.files`: every command's load -> step -> write job on files;
- :mod:`.study`: ``medseg run``, the whole job on a study with its report;
- :mod:`.dataset`: U-Net training sets from studies and their labels (or auto-labels);
- :mod:`.tumour_data`: the lung-tumour training set, real chest CT with lesions inserted;
- :mod:`.demo`: phantom studies through the whole job.

The command line (:mod:`medseg.cli`) and Slicer's logic (:mod:`medseg.mrml.logic`) call only these.
"""

from .steps import (
    AutoLabelResult, CleanResult, Converted, LungsResult, autolabel, clean, convert, lungs, predict,
)

__all__ = ["AutoLabelResult", "CleanResult", "Converted", "LungsResult", "autolabel", "clean", "convert", "lungs",
           "predict"]

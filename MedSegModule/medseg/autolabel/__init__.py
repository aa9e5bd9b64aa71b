"""Classical auto-labelling on (z, y, x) HU arrays in LPS order, with spacing in mm (z, y, x).

- :mod:`.table`: the body and the removed objects (table, couch, headrest, mask shell);
- :mod:`.lungs`: lungs and airway, the right/left split, the tumour search region;
- :mod:`.bone`; :mod:`.region` (Otsu, K-means and thresholds inside a region);
- :mod:`.morphology` (mm-sized structuring elements, block grids), :mod:`.checks` (is this CT in HU?).

The pipeline's steps (:mod:`medseg.pipeline.steps`) put images onto these arrays and back.
Import from the submodules; the package itself imports nothing.
"""

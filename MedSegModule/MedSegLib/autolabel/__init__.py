"""Classical auto-labelling: body and table/headrest removal, lungs, thresholds, contours.

Each engineer appends the imports of their public functions below.
"""

from .body import BodyObjects, body_and_objects
from .hu_classes import air_threshold, kmeans_hu
from .region import (THRESHOLD_METHODS, KSResult, kmeans_labels, ks_test, otsu_in_region, overlap,
                     region_from_labels, threshold, threshold_in_region, threshold_montage)
from .contours import RING_LABELS, contours_to_labels, read_point_list, read_rtstruct, run_contours
from .lungs import LungSegmentation, lung_mask, segment_lungs
from .airway import airway_tree, find_trachea
from .bone import bone_mask
from .spine_roi import search_region, spine_axis

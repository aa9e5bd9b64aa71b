"""Lungs: the mask (:mod:`.mask`), the airway (:mod:`.airway`), the right/left split (:mod:`.split`),
the tumour search region about the spine axis (:mod:`.search_region`), and their helpers (:mod:`.ops`)."""

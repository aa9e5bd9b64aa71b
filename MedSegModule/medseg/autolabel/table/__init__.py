"""Table, couch and headrest removal with the body mask: HU classes (:mod:`.hu_classes`), components
classified as patient or object (:mod:`.objects`), and the whole step (:mod:`.body`)."""

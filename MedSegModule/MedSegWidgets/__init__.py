"""Qt-side helpers of the MedSeg module panel (they need Slicer's application; medseg never does).

They live in a package because Slicer loads every ``.py`` directly in the module folder as a module.
"""

"""The generated chest phantom as a Sample Data entry: written to a temporary folder on demand, then loaded."""

import os
import tempfile

import slicer

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "Resources", "Icons", "MedSegModule.png")
#: The distributions writing and loading the phantom needs (it is uncompressed DICOM).
PHANTOM_NEEDS = ("pydicom", "scipy")
_registered = []


def registerSampleData():
    """Add "MedSegChestPhantom" to the Sample Data module once, when Slicer has it."""
    if _registered:
        return
    try:
        import SampleData
    except ImportError:
        return
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="MedSeg", sampleName="MedSegChestPhantom", customDownloader=loadChestPhantom, thumbnailFileName=ICON)
    _registered.append("MedSegChestPhantom")


def loadChestPhantom(source=None):
    """Write the seeded chest phantom as a DICOM CT series and load it in HU; returns the volume node.

    source: the SampleDataSource Slicer passes to a custom downloader (unused: nothing is downloaded).
    What the phantom needs is installed first, after asking (never while Slicer runs its tests).
    """
    from medseg.mrml import install

    install.ensure(PHANTOM_NEEDS)
    from medseg.mrml.logic import MedSegLogic
    from medseg.phantom import write_phantom_study

    study = write_phantom_study(tempfile.mkdtemp(prefix="MedSegChestPhantom-", dir=slicer.app.temporaryPath))
    logic = MedSegLogic(slicer.mrmlScene, slicer.app.applicationLogic())
    volume = logic.convertDicom(study["dicom"], name="MedSegChestPhantom")
    slicer.util.setSliceViewerLayers(background=volume, fit=True)
    return volume

"""The generated chest phantom as a Sample Data entry: written to a temporary folder on demand, then loaded."""

import os
import tempfile

import slicer

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "Resources", "Icons", "MedSegModule.png")


def registerSampleData():
    """Add "MedSegChestPhantom" to the Sample Data module, when Slicer has it."""
    try:
        import SampleData
    except ImportError:
        return
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="MedSeg", sampleName="MedSegChestPhantom", customDownloader=loadChestPhantom, thumbnailFileName=ICON)


def loadChestPhantom(source=None):
    """Write the seeded chest phantom as a DICOM CT series and load it in HU; returns the volume node.

    source: the SampleDataSource Slicer passes to a custom downloader (unused: nothing is downloaded).
    """
    from medseg.mrml.logic import MedSegLogic
    from medseg.phantom import write_phantom_study

    study = write_phantom_study(tempfile.mkdtemp(prefix="MedSegChestPhantom-", dir=slicer.app.temporaryPath))
    logic = MedSegLogic(slicer.mrmlScene, slicer.app.applicationLogic())
    volume = logic.convertDicom(study["dicom"], name="MedSegChestPhantom")
    slicer.util.setSliceViewerLayers(background=volume, fit=True)
    return volume

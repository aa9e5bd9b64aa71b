"""Show MedSeg's results in Slicer's views and register its terms with Slicer's modules."""

import slicer


def showTable(tableNode):
    """Switch to a layout with a table view and show ``tableNode`` in it (as Segment Statistics does).

    The Tables module's logic (vtkSlicerTablesLogic) picks the layout that adds a table view to the
    current one; the selection node makes the table the active one. None (a step that failed) shows nothing.
    """
    if tableNode is None:
        return
    layoutManager = slicer.app.layoutManager()
    layoutManager.setLayout(slicer.modules.tables.logic().GetLayoutWithTable(layoutManager.layout))
    slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(tableNode.GetID())
    slicer.app.applicationLogic().PropagateTableSelection()


def onStartupCompleted():
    """What the module adds to Slicer once its modules are loaded: the Sample Data entry and the terms."""
    from .sampledata import registerSampleData

    registerSampleData()
    loadTerminology()


def loadTerminology():
    """Load MedSeg's .term.json into the Terminologies module (vtkSlicerTerminologiesModuleLogic), when there is one.

    Segments keep their codes without it; with it, Slicer's terminology selector lists MedSeg's terms.
    """
    if not hasattr(slicer.modules, "terminologies"):
        return None
    from medseg.mrml.scene import TERMINOLOGY_FILE

    return slicer.modules.terminologies.logic().LoadTerminologyFromFile(str(TERMINOLOGY_FILE))

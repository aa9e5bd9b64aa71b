"""Subject hierarchy placement of MedSeg's nodes: beside their input, under its study.

In Slicer a Qt plugin gives every data node an item as it is added; under slicer-core nothing
does, so these functions create the item when it is missing and work the same in both.
"""

from __future__ import annotations

from typing import Mapping

import slicer


def subject_hierarchy(scene):
    """The scene's subject hierarchy node (created by MRML when missing)."""
    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def sh_item(scene, node, parent: int | None = None) -> int:
    """The subject hierarchy item of ``node``, created (under ``parent`` or the scene) if it has none.

    In Slicer, a Qt plugin gives every data node an item as it is added; under slicer-core nothing
    does, so the item is made here.
    """
    sh = subject_hierarchy(scene)
    item = sh.GetItemByDataNode(node)
    if not item:
        item = sh.CreateItem(parent or sh.GetSceneItemID(), node)
    return item


def place_beside(scene, node, reference_node=None) -> int:
    """Put ``node``'s item under the parent of ``reference_node``'s item (its study), or at the scene root."""
    sh = subject_hierarchy(scene)
    parent = sh.GetSceneItemID()
    if reference_node is not None:
        parent = sh.GetItemParent(sh_item(scene, reference_node)) or parent
    item = sh_item(scene, node, parent)
    if sh.GetItemParent(item) != parent:
        sh.SetItemParent(item, parent)
    return item


def place_in_study(scene, node, patient: str, study: str, attributes: Mapping[str, str] | None = None) -> int:
    """Put ``node`` under a new Patient/Study pair of items (as a DICOM load shows it); returns the study item."""
    sh = subject_hierarchy(scene)
    subject = sh.CreateSubjectItem(sh.GetSceneItemID(), patient)
    study_item = sh.CreateStudyItem(subject, study)
    for key, value in (attributes or {}).items():
        if value not in (None, ""):
            sh.SetItemAttribute(study_item, key, str(value))
    sh.SetItemParent(sh_item(scene, node, study_item), study_item)
    return study_item

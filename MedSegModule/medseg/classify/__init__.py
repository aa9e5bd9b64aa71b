"""The 3D CNN volume classifier: whole CT volumes as normal or abnormal (torch).

- :mod:`.model`: the network (four 3D conv blocks with max-pool and batch norm, global average
  pool, dense layer, dropout, one sigmoid output) and its :class:`~.model.Architecture`;
- :mod:`.data`: folders ``normal/`` and ``abnormal/`` of volumes -> preprocessed tensors, the
  seeded split and the rotation augmentation;
- :mod:`.metrics`: ROC curve and AUC; :mod:`.visual`: the ROC figure;
- :mod:`.train`: training with the U-Net's machinery (checkpoints, resume, metrics CSV, curves,
  DDP under torchrun), the best epoch by validation AUC;
- :mod:`.card`: the model folder and its card; :mod:`.predict`: the probabilities of one volume.

Import from the submodules; the package itself imports nothing.
"""

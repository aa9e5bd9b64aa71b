"""2D U-Net: dataset building, training (single process or torchrun DDP), inference and export.

Modules (torch is imported only by those that need it):

- :mod:`.model` the network (:class:`~.model.Architecture`, :class:`~.model.UNet2d`);
  :mod:`.presets` named architectures and tasks;
- :mod:`.dataset` ``medseg dataset`` (studies + labels -> cached slices + dataset.json);
  :mod:`.data` the slice <-> model grid mapping; :mod:`.slices` the torch Dataset and negative
  sampling; :mod:`.augment` augmentation;
- :mod:`.losses` Dice + CE/BCE with the Dice-first schedule; :mod:`.train` the training loop;
  :mod:`.distributed` torchrun helpers; :mod:`.visual` CSV, curves, montages;
- :mod:`.predict` inference; :mod:`.export` TorchScript / ONNX; :mod:`.card` model folders;
- :mod:`.commands` the functions the CLI and the scripts call.

Import from the submodules (``from medseg.unet.train import train``): the package itself
imports nothing, so ``import medseg.unet`` costs nothing and works without torch.
"""

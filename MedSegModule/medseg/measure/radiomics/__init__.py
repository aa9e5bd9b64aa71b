"""Radiomics: pyradiomics features per segment (:mod:`.features`), in a process pool (:mod:`.pool`)."""

from .features import (
    DEFAULT_PRESET, INSTALL_HINT, default_label_values, extract, extract_cases, list_presets, load_params,
    preset_path, select_label_values, validate_params,
)

__all__ = ["DEFAULT_PRESET", "INSTALL_HINT", "default_label_values", "extract", "extract_cases", "list_presets",
           "load_params", "preset_path", "select_label_values", "validate_params"]

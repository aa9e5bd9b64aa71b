"""Options several commands share, and the help format every command uses.

Commands that load a study take the same loader options (:func:`add_input_options`); every
option's help says its default (:class:`DefaultsHelp` adds it where the text does not).
"""

from __future__ import annotations

import argparse

from ..unet.devices import DEVICES  # noqa: F401  (run's --device choices)


class DefaultsHelp(argparse.HelpFormatter):
    """argparse's help, with "(default: X)" after every option whose help does not say its default.

    Flags (no value) are left alone: leaving one out is its default. An option without a default
    value says in its own words what happens when it is not given.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and action.nargs != 0 and text != argparse.SUPPRESS
                and "default" not in text and action.default not in (None, argparse.SUPPRESS, [], ())):
            text += " (default: %(default)s)"
        return text


def add_input_options(p: argparse.ArgumentParser, force: bool | str = True, rescale: bool = True) -> None:
    """Options every command that loads a study shares; ``rescale`` for those that pass a rescale
    override on to the loader. ``force`` True: the command refuses input that does not look like CT
    in HU unless ``--force``; a string: the command works on any modality, and ``--force`` is
    accepted (so one set of options fits every command) with that string saying so."""
    p.add_argument("--series", metavar="UID", help="series to use (default: the largest CT series)")
    p.add_argument("--no-resample", action="store_true",
                   help="keep tilted or unevenly spaced slices as they are (default: resample onto a regular grid)")
    if rescale:
        p.add_argument("--rescale-intercept", type=float, metavar="V", default=None,
                       help="use V as the rescale intercept instead of the header's (default: the header's; CT whose "
                            "stored values cannot be HU, air stored at 0, is corrected by -1024 with a warning)")
        p.add_argument("--rescale-slope", type=float, metavar="S", default=None,
                       help="use S as the rescale slope instead of the header's (default: the header's)")
    if isinstance(force, str):
        p.add_argument("--force", action="store_true", help=f"accepted as by every command that loads a study; {force}")
    elif force:
        p.add_argument("--force", action="store_true", help="run on input that does not look like CT in HU")
    p.add_argument("--skip-damaged", action="store_true",
                   help="leave out damaged slices (truncated, unreadable, no pixel data, impossible geometry) and "
                        "interpolate over them, saying which (default: a damaged slice is an error)")

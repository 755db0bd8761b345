"""Subcommands of the ``fpsolve`` command line, one module each (see :mod:`fpsolve.cli`).

The model and output options shared by ``stationary``, ``solve`` and ``spectrum`` live here.
"""

import argparse

__all__ = [
    "HelpFormatter",
    "add_model_arguments",
    "add_output_arguments",
    "build_model",
    "check_output",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already says it or it is None/False."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def add_model_arguments(p) -> None:
    """Model options shared by ``stationary``, ``solve`` and ``spectrum``."""
    p.add_argument("model", choices=["harmonic", "rbm"], help="which model")
    p.add_argument("--g2", type=float, required=True, help="noise strength g^2 > 0")
    p.add_argument("--omega", type=float, default=1.0, help="harmonic: curvature Omega")
    p.add_argument("--center", type=float, default=0.0, help="harmonic: centre")
    p.add_argument("--kappa", type=float, default=4.0, help="rbm: target eigenvalue kappa")
    p.add_argument("--mu2", type=float, default=9.0, help="rbm: visible mass mu^2")
    p.add_argument("--sigma-h2", type=float, default=1.0, help="rbm: hidden variance sigma_h^2")
    p.add_argument(
        "--convention", choices=["talk", "training"], default="talk", help="rbm: drift convention"
    )


def add_output_arguments(p, what: str) -> None:
    """``-o/--output`` (a file for ``what``) and ``--overwrite``."""
    p.add_argument("-o", "--output", help=f"write {what} to this file (png, pdf, svg)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")


def check_output(path, overwrite: bool) -> None:
    """Refuse an ``--output`` that cannot be written or would replace a file without
    ``--overwrite`` (:func:`fpsolve.cli.check_output_file`); called before any work is done."""
    from fpsolve.cli import check_output_file

    check_output_file(path, overwrite=overwrite)


def build_model(args):
    """The model described by the parsed arguments."""
    from fpsolve.models import HarmonicModel, RBMModel

    if args.model == "harmonic":
        return HarmonicModel(args.omega, center=args.center)
    return RBMModel(args.kappa, args.mu2, args.sigma_h2, convention=args.convention)

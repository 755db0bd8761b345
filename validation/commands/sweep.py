"""``fpsolve sweep``: a grid of Gaussian-RBM training settings, one recording each."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand."""
    from validation.commands.train import add_training_options

    p = subparsers.add_parser(
        "sweep",
        help="train a grid of (alpha, batch size) settings, one HDF5 recording each",
        description=(
            "Train every setting of a grid (the Cartesian product of --alpha and --batch-size) "
            "or of a named preset ('paper': |B| in {4..64} at alpha 0.1 and alpha in "
            "{0.01..0.1} at |B| 16) into DIRECTORY, on local processes or a Dask cluster."
        ),
    )
    p.add_argument("directory", help="output directory (one .h5 file per setting)")
    p.add_argument("--preset", choices=("paper",), default=None, help="named sweep")
    p.add_argument("--alpha", type=float, nargs="+", default=None, help="learning rates")
    p.add_argument("--batch-size", type=int, nargs="+", default=None, help="batch sizes |B|")
    p.add_argument("--workers", type=int, default=None, help="local worker processes")
    p.add_argument(
        "--dask", metavar="ADDRESS", default=None,
        help="run on the Dask distributed scheduler at ADDRESS instead of local processes",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    add_training_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``fpsolve sweep``."""
    from validation.commands.train import training_kwargs
    from validation.training import rbm

    if args.preset is not None:
        if args.alpha is not None or args.batch_size is not None:
            raise ValueError("--preset cannot be combined with --alpha/--batch-size")
        settings = args.preset
    else:
        settings = rbm.grid(
            alpha=args.alpha or [rbm.PAPER_ALPHA],
            batch_size=args.batch_size or [rbm.PAPER_BATCH_SIZE],
        )
    kwargs = training_kwargs(args)
    seed = kwargs.pop("rng")
    device = args.device or "cpu"
    if device == "cuda" and (args.dask is not None or args.workers is not None):
        raise ValueError("--device cuda runs in this process; drop --dask/--workers")
    client = None
    executor = None
    if args.dask is not None:
        from distributed import Client

        client = Client(args.dask)
        executor = client.get_executor()
    try:
        result = rbm.sweep(
            settings,
            directory=args.directory,
            executor=executor,
            max_workers=args.workers,
            rng=seed,
            progress=False if args.quiet else None,
            overwrite=args.overwrite,
            device=device,
            **kwargs,
        )
    finally:
        if client is not None:
            client.close()
    for s, path in zip(result.settings, result.paths, strict=True):
        print(f"{path}: alpha={s['alpha']:g} batch_size={s['batch_size']}")
    return 0

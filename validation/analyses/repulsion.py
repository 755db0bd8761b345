r"""Eigenvalue repulsion across a sweep and the predicted :math:`a_{fit}` (analysis 6).

The learned modes :math:`\lambda_a = \mu^2 - \sigma_h^2 x_a` of a Gaussian RBM sit below
their targets :math:`\kappa_a` by an amount that grows with :math:`\alpha/|B|`: the
eigenvalues repel.  :func:`repulsion` measures :math:`\lambda_{fit}/\kappa` per mode and
setting and puts a level of the ladder (:func:`validation.analyses.predict.predict`) next
to it; :func:`predicted_a_fit` is the paper's one-parameter constant implied by the
small-noise formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fpsolve.checks import as_rng
from validation._typing import RNGLike
from validation.analyses.levels import level_name
from validation.analyses.predict import Prediction, _check_match, _stationary, predict
from validation.analyses.stats import Entry, effective_samples, run_jackknife
from validation.data.recording import Recording

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

__all__ = ["Repulsion", "predicted_a_fit", "repulsion"]


@dataclass(frozen=True, eq=False)
class Repulsion:
    r"""Learned mode over target, :math:`\lambda_a/\kappa_a`, against :math:`\alpha/|B|`.

    Attributes
    ----------
    alpha_over_b : ndarray, shape (n_settings,)
        Scaling variable of each recording.
    kappa : ndarray, shape (n,)
        Target of each eigenvalue index.
    measured, measured_error : ndarray, shape (n_settings, n)
        :math:`\langle\lambda_a\rangle/\kappa_a` from the recordings (jackknife over runs).
    predicted, predicted_error : ndarray, shape (n_settings, n)
        The same from the predictions (``method`` in ``params``).
    small_noise : ndarray, shape (n_settings, n)
        The small-noise formula (ordering of degenerate modes plus first-order shift).
    n_eff : ndarray, shape (n_settings, n)
        Effectively independent samples of each measurement.
    params : dict
        ``method``, ``alpha`` and ``batch_size`` per setting.
    """

    alpha_over_b: np.ndarray
    kappa: np.ndarray
    measured: np.ndarray
    measured_error: np.ndarray
    predicted: np.ndarray
    predicted_error: np.ndarray
    small_noise: np.ndarray
    n_eff: np.ndarray
    params: dict = field(default_factory=dict)

    def entries(self) -> list[Entry]:
        """One entry per setting and mode: measured vs predicted :math:`\\lambda/\\kappa`."""
        return [
            Entry.compare(
                "repulsion",
                f"lambda/kappa mode {a}",
                self.measured[s, a],
                self.measured_error[s, a],
                self.predicted[s, a],
                self.predicted_error[s, a],
                n_eff=self.n_eff[s, a],
                mode=a,
                kappa=self.kappa[a],
                alpha=self.params["alpha"][s],
                batch_size=self.params["batch_size"][s],
                **level_name(self.params["method"]),
            )
            for s in range(len(self.alpha_over_b))
            for a in range(len(self.kappa))
        ]

    def plot(self, ax: Axes | None = None) -> FigureBase:
        r"""One curve per mode of :math:`\lambda/\kappa` against :math:`\alpha/|B|`.

        Points with error bars are measured, solid lines the prediction, dotted the
        small-noise formula.  Returns the Figure.
        """
        import matplotlib.pyplot as plt

        fig: FigureBase
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        order = np.argsort(self.alpha_over_b)
        xv = self.alpha_over_b[order]
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for a in range(len(self.kappa)):
            col = colors[a % len(colors)]
            ax.errorbar(
                xv,
                self.measured[order, a],
                yerr=self.measured_error[order, a],
                fmt="o",
                ms=3,
                capsize=2,
                color=col,
                label=f"$a$={a}, $\\kappa$={self.kappa[a]:.3g}",
            )
            ax.plot(xv, self.predicted[order, a], "-", color=col, lw=1)
            ax.plot(xv, self.small_noise[order, a], ":", color=col, lw=1)
        ax.axhline(1.0, color="0.4", lw=0.8)
        ax.set_xlabel(r"$\alpha/|B|$")
        ax.set_ylabel(r"$\lambda_{fit}/\kappa$")
        ax.set_title(
            f"points: measured; lines: {level_name(self.params['method'])['model']}; "
            "dotted: small-noise formula (a)",
            fontsize="small",
        )
        ax.legend(fontsize="x-small", ncol=2)
        return fig


def repulsion(
    recordings: Sequence[Recording],
    predictions: Sequence[Prediction] | None = None,
    *,
    burn_in: float | None = None,
    method: str = "matrix",
    rng: RNGLike = None,
    **predict_options: Any,
) -> Repulsion:
    r"""Eigenvalue repulsion: :math:`\lambda_{fit}/\kappa` per mode across a sweep (analysis 6).

    :math:`\lambda_{fit,a} = \mu^2 - \sigma_h^2\langle x_a\rangle` is the mean
    learned mode over runs and snapshots at steps ``>= burn_in`` (default half
    the last step), with jackknife errors over runs; the prediction is
    :math:`(\mu^2 - \sigma_h^2\langle x_a\rangle_{pred})/\kappa_a`.

    Parameters
    ----------
    recordings : sequence of Recording
        Gaussian-RBM recordings of one target (same ``kappa``, ``mu2``,
        ``sigma_h``), e.g. a sweep over ``alpha`` and ``batch_size``.
    predictions : sequence of Prediction, optional
        One per recording; default :func:`predict` with ``method`` for each.
    burn_in : float, optional
        First step used in every recording.
    method : str, optional
        Level of the default predictions (:data:`METHODS`); default (c).
    rng : int, numpy.random.Generator or None
        Seed of the default predictions (one stream per recording is spawned).
    **predict_options
        Passed to :func:`predict`.

    Returns
    -------
    Repulsion
    """
    recordings = list(recordings)
    if not recordings:
        raise ValueError("recordings must hold at least one recording")
    if predictions is None:
        gens = as_rng(rng).spawn(len(recordings))
        predictions = [
            predict(r, method=method, rng=g, **predict_options)
            for r, g in zip(recordings, gens, strict=True)
        ]
    predictions = list(predictions)
    if len(predictions) != len(recordings):
        raise ValueError(
            f"predictions must hold one Prediction per recording "
            f"({len(recordings)}), got {len(predictions)}"
        )
    methods = {p.method for p in predictions}
    if len(methods) != 1:
        raise ValueError(f"predictions must share one method, got {sorted(methods)}")
    kappa = predictions[0].kappa
    rows: dict[str, list[Any]] = {
        key: [] for key in ("ab", "m", "me", "p", "pe", "sn", "neff", "alpha", "b")
    }
    for rec, pred in zip(recordings, predictions, strict=True):
        st = _check_match(rec, pred)
        if not np.allclose(pred.kappa, kappa, rtol=1e-12, atol=0.0):
            raise ValueError("recordings must share one target spectrum kappa")
        ev, _ = _stationary(rec, burn_in)
        learned = run_jackknife(lambda d, st=st: st.mu2 - st.s * d.mean(axis=(0, 1)), ev)
        sn = predict(
            rec,
            method="small_noise",
            k=pred.params["k"],
            second_order=pred.params["second_order"],
            discrete_map=pred.params["discrete_map"],
        )
        rows["ab"].append(st.ab)
        rows["m"].append(np.asarray(learned.value) / kappa)
        rows["me"].append(np.asarray(learned.error) / kappa)
        rows["p"].append(pred.learned / kappa)
        rows["pe"].append(pred.learned_error / kappa)
        rows["sn"].append(sn.learned / kappa)
        rows["neff"].append([effective_samples(ev[:, :, a]) for a in range(ev.shape[2])])
        rows["alpha"].append(st.alpha)
        rows["b"].append(st.batch_size)
    return Repulsion(
        alpha_over_b=np.array(rows["ab"]),
        kappa=kappa,
        measured=np.array(rows["m"]),
        measured_error=np.array(rows["me"]),
        predicted=np.array(rows["p"]),
        predicted_error=np.array(rows["pe"]),
        small_noise=np.array(rows["sn"]),
        n_eff=np.array(rows["neff"]),
        params={"method": methods.pop(), "alpha": rows["alpha"], "batch_size": rows["b"]},
    )


def predicted_a_fit(recordings: Iterable[Recording]) -> tuple[float, float] | None:
    r"""Predicted :math:`a_{fit}` of an RBM sweep, ``(value, spread)``, or None.

    The paper's one-parameter form is
    :math:`\langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i}` with
    :math:`\kappa_i^2\Omega_i = \mu^2 - \kappa_i` (talk convention).  The small-noise
    prediction (:func:`predict`, ``method="small_noise"``) gives each pair
    :math:`a_i = \langle S_i\rangle/\sqrt{(\alpha/|B|)(\mu^2 - \kappa_i)}`, which is
    :math:`\sqrt{2\pi}/\sigma_h` times the chain-correlation and discrete-map factors;
    the value is the mean of the :math:`a_i` over pairs and settings and the spread
    their standard deviation (how far the one-parameter form is from the prediction).

    Parameters
    ----------
    recordings : sequence of Recording
        Gaussian-RBM recordings (one per setting).

    Returns
    -------
    tuple of float or None
        ``(value, spread)``; None if a recording is not a Gaussian-RBM recording or
        there are no degenerate pairs.
    """
    recs = list(recordings)
    if not recs or any(r.attrs.get("model") != "gaussian_rbm" for r in recs):
        return None
    values = []
    for rec in recs:
        p = predict(rec, method="small_noise")
        v = p.alpha_over_b * (p.params["mu2"] - p.kappa)
        values += [s / np.sqrt(v[i]) for s, (i, _) in zip(p.spacing, p.pairs, strict=True)]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values))

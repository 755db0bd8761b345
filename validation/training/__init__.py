"""Training that produces recordings: the Gaussian-RBM PCD trainer
(:mod:`validation.training.trainer`, its Numba kernels in ``_kernels``), sweeps over
settings (:mod:`validation.training.sweep`), both importable from
:mod:`validation.training.rbm`, and the nano-GPT example
(:mod:`validation.training.gpt_example`)."""

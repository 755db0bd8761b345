"""Training that produces recordings: the Gaussian-RBM PCD trainer (:mod:`validation.training.rbm`),
its Numba kernels, sweeps over settings, and the nano-GPT example
(:mod:`validation.training.gpt_example`)."""

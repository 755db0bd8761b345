"""Slots of the per-chunk ``counters`` array of the DBM kernels."""

CROSS_STEPS = 0  # (replica, step) events whose step broke the ordering
PAIR_CROSSINGS = 1  # neighbour transpositions needed to restore the order ("em", "sgd")
REDO_STEPS = 2  # steps redone semi-implicitly ("safe" scheme)
REDO_FAILED = 3  # semi-implicit solves that did not converge (kept the best iterate)
BOUNDARY_HITS = 4  # reflections at a reflecting or wall end of a model's domain
N_RECORDED = 5  # steps that entered the statistics (per chunk)
FULL_SOLVES = 6  # redone steps that needed all pair terms implicit
SNAP_POS = 7  # index of the next snapshot to take
MATRIX_STEPS = 8  # SGD steps taken at matrix level (state-dependent noise)
DIVERGED = 9  # first step that produced a non-finite value (0: none); the chunk stopped there
STEP = 10  # the step being taken (for the message of an error raised inside a step)
PAIR_STEPS = 11  # SGD steps that took their near pairs as 2 x 2 blocks (state-dependent noise)
N_COUNTERS = 12

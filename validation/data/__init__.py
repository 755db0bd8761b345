"""Recorded dynamics on disk: the HDF5 recording format (:mod:`validation.data.recording`),
importers of other recordings (:mod:`validation.data.importers`) and weight-matrix
checkpoints (:mod:`validation.data.checkpoints`)."""

"""Party-local data work: synthetic data, loaders, validation, indicators, binning, metrics."""

"""nmt: a fast, faithful RNN machine-translation toolkit."""

__version__ = "0.1.0"

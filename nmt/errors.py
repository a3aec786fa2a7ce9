"""The one exception type the command line turns into a clean message instead of a traceback."""


class NMTError(Exception):
    """A user-facing error: bad input, bad config, a missing file. The message says what and where."""

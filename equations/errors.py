"""The one error class for input that is refused: a bad coefficient, option, file or family.
The command line prints such an error as one line (exit status 2); any other exception, a
ValueError included, is a bug and keeps its traceback."""


class InputError(ValueError):
    """Input refused before (or instead of) any work, with one line saying why."""


class UnknownEquationError(InputError):
    """No equation family answers to the spec, or its source cannot be loaded as recorded."""

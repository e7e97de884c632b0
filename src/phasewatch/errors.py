"""The one exception type that means "the user gave us bad input"."""


class UserError(Exception):
    """Bad input (config, flag, file). The CLI prints it as one line and exits with code 2.

    The message names the field, the value, and what is allowed, e.g.
    ``p: -3 is not allowed (a prime >= 3)``.
    """

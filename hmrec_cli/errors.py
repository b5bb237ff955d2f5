"""The one exception type that means "the user gave us something we cannot use".

The CLI turns it into a single line on stderr and exit code 2; anything else is a bug (exit 1).
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input or usage: the message names the file, row or option and the problem, in one line."""

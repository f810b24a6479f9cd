"""Exit statuses, in one place: each domain error's status, and the rule for a batch of files.

Imported only when a command runs, so that `provreg --help` stays fast. The README's exit-status table is checked
against this module by a test.
"""

from __future__ import annotations

from collections.abc import Collection

from registry import errors

EXIT_OK = 0
EXIT_SOME_FAILED = 1  # a batch where files failed for different reasons, or only some files failed
EXIT_USAGE = 2  # click's own status for a bad command line
EXIT_CODES: dict[type[errors.RegistryError], int] = {
    errors.InvalidRequest: 3,
    errors.UnsupportedMedia: 3,
    errors.MediaTooLarge: 3,
    errors.MediaTooExpensive: 3,
    errors.Unauthenticated: 4,
    errors.Forbidden: 4,
    errors.NotFound: 5,
    errors.Conflict: 6,
    errors.NotReady: 7,
    errors.Overloaded: 7,
    errors.ClientGone: 7,
    errors.ConfigurationError: 8,
    errors.VerificationFailed: 9,
    errors.LogTampered: 10,
}
# A file named on the command line that cannot be read is invalid input, like a corrupt one.
UNREADABLE_CODE = "unreadable"
EXIT_UNREADABLE = EXIT_CODES[errors.InvalidRequest]


def exit_code_for(exc: errors.RegistryError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    raise TypeError(f"{type(exc).__name__} has no exit status in EXIT_CODES")


def batch_exit_code(failure_codes: Collection[int], total: int) -> int:
    """0 if every file succeeded; when every file failed for one kind of reason, that reason's status; else 1.

    So a single bad file exits with its own status (3 for an unsupported image), and a script can still tell
    "some of my files were refused" (1) from "nothing worked, and this is why".
    """
    if not failure_codes:
        return EXIT_OK
    if len(failure_codes) == total and len(set(failure_codes)) == 1:
        return next(iter(failure_codes))
    return EXIT_SOME_FAILED

"""The lab's errors: the one hierarchy of :mod:`crypto.errors`, re-exported for lab users.

The classes live at the bottom of the stack (``crypto.errors``, which imports nothing of
the project), so every layer raises the same classes; SDK and CLI users import them from
here. What an error reveals, and to whom, is said there.
"""

from __future__ import annotations

from crypto.errors import (
    ERROR_CLASSES,
    ERROR_CODE_HELP,
    ERROR_CODES,
    AccessDeniedError,
    AlignmentError,
    AuthorizationError,
    CatalogError,
    ConfigError,
    ConsentError,
    CryptoError,
    DataValidationError,
    EncodingOverflowError,
    KeyFileError,
    KeyMismatchError,
    LabError,
    MinimumCellError,
    NotFoundError,
    PartyError,
    PartyUnavailableError,
    PrivacyViolationError,
    ProtocolError,
    RunCancelled,
    StateTransitionError,
    USCCError,
    error_for_code,
)

__all__ = [
    "AccessDeniedError",
    "AlignmentError",
    "AuthorizationError",
    "CatalogError",
    "ConfigError",
    "ConsentError",
    "CryptoError",
    "DataValidationError",
    "ERROR_CLASSES",
    "ERROR_CODES",
    "ERROR_CODE_HELP",
    "EncodingOverflowError",
    "KeyFileError",
    "KeyMismatchError",
    "LabError",
    "MinimumCellError",
    "NotFoundError",
    "PartyError",
    "PartyUnavailableError",
    "PrivacyViolationError",
    "ProtocolError",
    "RunCancelled",
    "StateTransitionError",
    "USCCError",
    "error_for_code",
]

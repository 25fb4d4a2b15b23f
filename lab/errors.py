"""One error hierarchy for the whole lab.

Every error carries a stable ``code`` and a ``hint`` that tells the user what to do.
Messages name the file, column, party or object that is wrong. No error message may
contain a secret (private key material, passwords): build messages from public facts only.
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the lab raises on purpose."""

    code: str = "FEDLAB-000"
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} (hint: {self.hint})" if self.hint else base


class ConfigError(LabError, ValueError):
    """An experiment, node or lab configuration is wrong."""

    code = "FEDLAB-100"
    hint = "Check the configuration file against docs/configuration.md."


class DataValidationError(LabError, ValueError):
    """A party's data file does not match its schema."""

    code = "FEDLAB-200"
    hint = "Fix the named file and column, then load it again; nothing was written."


class CryptoError(LabError, ValueError):
    """Encryption, decryption, encoding or key handling failed."""

    code = "FEDLAB-300"


class KeyMismatchError(CryptoError):
    """Ciphertexts or keys from different key pairs were combined."""

    code = "FEDLAB-301"
    hint = "All parties of one run must use the public key the coordinator sent for that run."


class EncodingOverflowError(CryptoError, OverflowError):
    """A value does not fit the fixed-point encoding or packing slot."""

    code = "FEDLAB-302"
    hint = "Scale the data down, or use a larger key / slot width."


class ProtocolError(LabError, RuntimeError):
    """A federated protocol received an unexpected or malformed message."""

    code = "FEDLAB-400"


class PartyUnavailableError(ProtocolError):
    """A party did not answer in time or left the federation."""

    code = "FEDLAB-401"
    hint = "Check that the party's SuperNode is running and reachable, then run again."


class PrivacyViolationError(ProtocolError):
    """A message would have carried something that must not leave its party."""

    code = "FEDLAB-402"
    hint = "This is a bug in the protocol code; the message was not sent."


class AlignmentError(ProtocolError):
    """Private set intersection produced no usable sample."""

    code = "FEDLAB-403"
    hint = "Check the sample IDs and the enterprises' authorizations for this bank."


class CatalogError(LabError, RuntimeError):
    """The lab catalog refused or failed an operation."""

    code = "FEDLAB-500"


class NotFoundError(CatalogError, LookupError):
    code = "FEDLAB-501"


class AccessDeniedError(CatalogError, PermissionError):
    code = "FEDLAB-502"
    hint = "Ask platform staff for the role or grant you need."


class StateTransitionError(CatalogError):
    code = "FEDLAB-503"


class ConsentError(CatalogError):
    code = "FEDLAB-504"
    hint = "The data owner must grant (or renew) consent for these indicators."


__all__ = [
    "AccessDeniedError",
    "AlignmentError",
    "CatalogError",
    "ConfigError",
    "ConsentError",
    "CryptoError",
    "DataValidationError",
    "EncodingOverflowError",
    "KeyMismatchError",
    "LabError",
    "NotFoundError",
    "PartyUnavailableError",
    "PrivacyViolationError",
    "ProtocolError",
    "StateTransitionError",
]

"""One error hierarchy for the whole lab, at the bottom of the stack.

This module imports nothing of the project (and nothing outside the standard library), so
``crypto``, ``features``, ``federation`` and ``lab`` all raise from it and a crypto-only user
needs nothing else. Every coded error lives here, with a stable ``code`` and a ``hint`` that
tells the user what to do; :data:`ERROR_CODES` maps each code to its class (codes are
unique, a test keeps them so) and :func:`error_for_code` rebuilds a remote error by its
code, never by its class name. ``lab.errors`` re-exports the same classes.

Messages name the file, column, party or object that is wrong. No error message may
contain a secret (private key material, passwords): build messages from public facts only.

What an error reveals, and to whom: an error raised at a party may reach the coordinator
and the lab catalog, so its message holds only facts that may leave the party: file and
column names, counts, line numbers. A raw value from the party's records that helps its
own operator (the first malformed ID, an unexpected label, a non-numeric cell) goes in
``detail``: ``str(exc)`` shows it (the CLI on the owner's own file, the party's own log),
:meth:`LabError.public_message` leaves it out, and a party's error reply is built from
``public_message()`` only (``federation.failures``).
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the lab raises on purpose."""

    code: str = "FEDLAB-000"
    hint: str = ""
    detail: str = ""
    """Raw values from a party's records (e.g. ``first: '91...'``); never leaves the party."""

    def __init__(self, message: str, *, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint
        if detail:
            self.detail = detail

    def public_message(self) -> str:
        """The message without :attr:`detail` and without the hint: what may cross a party
        boundary."""
        return Exception.__str__(self)

    def __str__(self) -> str:
        base = self.public_message()
        if self.detail:
            base = f"{base} ({self.detail})"
        return f"{base} (hint: {self.hint})" if self.hint else base


class ConfigError(LabError, ValueError):
    """An experiment, node or lab configuration is wrong."""

    code = "FEDLAB-100"
    hint = "Check the configuration file against docs/configuration.md."


class PlaintextBackendError(ConfigError):
    """The ``plaintext`` backend (every party's values in the clear) asked for outside a
    local trial."""

    code = "FEDLAB-110"
    hint = (
        "Choose a protected backend (paillier, ckks; homo_*: ckks, secaggplus, masked). "
        "plaintext is for local trials only: the local runtime (every party in one "
        "process), a lab with FEDLAB_ENVIRONMENT=local, or an explicit opt-in for a test "
        "or benchmark (`fedlab train --allow-plaintext`, run_experiment(allow_plaintext=True))."
    )


class MissingExecutableError(ConfigError):
    """A program the lab starts (``flower-superlink``, ``flwr`` ...) is not installed beside
    the Python interpreter that runs the lab."""

    code = "FEDLAB-150"
    hint = (
        "Install the lab and its dependencies into this Python environment "
        "(`pip install -e .` in the lab's folder); PATH is not searched."
    )


class SettingsError(ConfigError):
    """A ``FEDLAB_*`` setting has a value the lab cannot use."""

    code = "FEDLAB-151"
    hint = "Fix or unset the FEDLAB_* environment variable named; docs/lab.md lists them."


class HorizontalBanksError(ConfigError):
    """A horizontal (``homo_*``) experiment names fewer than two banks, or names a bank
    twice: FedAvg across banks needs one sample set of each of at least two banks."""

    code = "FEDLAB-120"
    hint = (
        "Name another bank's sample set as a partner sample (partner_sample_ids; "
        "`--partner-sample` on the CLI), one per bank, or choose a vertical algorithm."
    )


class DataValidationError(LabError, ValueError):
    """A party's data file does not match its schema."""

    code = "FEDLAB-200"
    hint = "Fix the named file and column, then load it again; nothing was written."


class MinimumCellError(DataValidationError):
    """A run's intersection, training or validation split (or a bank's) holds fewer than k
    enterprises: it is refused before training."""

    code = "FEDLAB-210"
    hint = (
        "Widen the sample (more enterprises, or more with a valid authorization) or change "
        "the split (valid_fraction); k (FEDLAB_MIN_CELL, at least 10) cannot be lowered "
        "for a run."
    )


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


class PartyError(ProtocolError):
    """A party's handler failed: what its error reply said (public facts only).

    ``error_type`` and ``error_code`` are the party's own error's class name and code; the
    message is its :meth:`LabError.public_message` (the detail stayed in the party's log).
    """

    code = "FEDLAB-404"

    def __init__(
        self,
        party: str,
        action: str,
        *,
        error_type: str,
        error_code: str,
        message: str,
        hint: str = "",
    ) -> None:
        super().__init__(
            f"party {party!r} failed in {action!r}: {error_type} [{error_code}]: {message}",
            hint=hint,
        )
        self.party = party
        self.action = action
        self.error_type = error_type
        self.error_code = error_code
        self.reported = message

    def __reduce__(self) -> tuple[object, ...]:  # keyword-only arguments: pickle them
        return (
            _party_error,
            (self.party, self.action, self.error_type, self.error_code, self.reported, self.hint),
        )


def _party_error(
    party: str, action: str, error_type: str, error_code: str, message: str, hint: str
) -> PartyError:
    return PartyError(
        party, action, error_type=error_type, error_code=error_code, message=message, hint=hint
    )


class PrivacyViolationError(ProtocolError):
    """A message would have carried something that must not leave its party."""

    code = "FEDLAB-402"
    hint = "This is a bug in the protocol code; the message was not sent."


class AlignmentError(ProtocolError):
    """Private set intersection produced no usable sample."""

    code = "FEDLAB-403"
    hint = "Check the sample IDs and the enterprises' authorizations for this bank."


class RunNotAuthorizedError(ProtocolError):
    """A party refused a run: it carries no run authorization signed by the platform, or
    the authorization does not cover what the run asks (columns, label, validity, consent
    grants in force)."""

    code = "FEDLAB-405"
    hint = (
        "Runs against a party that checks authorizations go through the lab: submit the "
        "experiment, get it approved and the data owners' consent; `fedlab train` on local "
        "files keeps working for one-machine trials."
    )


class RuntimeStartError(ProtocolError):
    """A Flower runtime could not be started on this machine (for the simulation runtime:
    Ray's processes did not come up); the message names the cause Ray's own logs give."""

    code = "FEDLAB-410"
    hint = "Run again when the machine is less loaded, or use --runtime local."


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


class SignInError(AccessDeniedError):
    """Sign-in refused: the same error, message and code whether the user name is unknown,
    inactive or its password wrong, so a refusal never says which user names exist."""

    code = "FEDLAB-553"
    hint = (
        "Check the user name and the password (the CLI reads it from FEDLAB_PASSWORD, the "
        "SDK takes password=...); an admin can reset either."
    )


class CatalogNotFoundError(CatalogError):
    """The catalog's SQLite file does not exist (a mistyped ``--db`` is never created)."""

    code = "FEDLAB-550"
    hint = (
        "Check the --db path (or FEDLAB_DATABASE_URL); create a new catalog with "
        "`fedlab lab init --db PATH`."
    )


class CatalogUnavailableError(CatalogError):
    """The catalog database cannot be reached or read (server down, wrong URL or
    credentials, a corrupt or non-SQLite file)."""

    code = "FEDLAB-551"
    hint = (
        "Check that the database server runs and the URL is right; a corrupt SQLite "
        "file must be restored from a backup."
    )


class CatalogSchemaError(CatalogError):
    """The database holds no lab catalog, or one of a schema this version does not know."""

    code = "FEDLAB-552"
    hint = (
        "Run `fedlab lab init --db ...` to create or migrate the catalog; a catalog "
        "written by a newer fedlab needs that version."
    )


class USCCError(DataValidationError):
    """A string is not a valid unified social credit code."""

    code = "FEDLAB-201"
    hint = (
        "A USCC has 18 characters from 0-9 and A-Y without I, O, Z, S, V, ending in its "
        "check character."
    )


class SampleListError(DataValidationError):
    """A sample's ID list (样本名单) at the bank is missing, empty or unusable, or leaves no
    enterprise of the bank's table in the sample's observation window."""

    code = "FEDLAB-202"
    hint = (
        "Fix the sample set's ID-list location (a CSV at the bank with the table's ID column "
        "and, for a window, an observation-date column), or edit the sample into a new version."
    )


class KeyFileError(CryptoError):
    """A key file is missing, unreadable or corrupted."""

    code = "FEDLAB-303"
    hint = "Generate a key pair with `fedlab keys generate --out DIR`, or restore the file."


class AuthorizationError(ConsentError):
    """A bank has no valid enterprise authorizations for what it asked."""

    code = "FEDLAB-505"
    hint = (
        "Import the enterprises' query authorizations (查询授权) for this bank, "
        "e.g. `fedlab lab authorizations import`, then submit again."
    )


class RunCancelled(LabError):
    """The experiment was cancelled while it ran; the runner stops it."""

    code = "FEDLAB-506"


class LeaseLostError(CatalogError):
    """A worker no longer holds the lease of the job it ran: its lease expired and a
    reaper requeued, failed or adopted the job, or the job was resubmitted. Nothing it
    produced is filed."""

    code = "FEDLAB-507"
    hint = (
        "The job was taken over (see its transitions); keep workers' heartbeats within "
        "FEDLAB_LEASE_SECONDS, e.g. by not pausing a worker's process."
    )


def _coded(base: type[LabError]) -> list[type[LabError]]:
    out = [base]
    for sub in base.__subclasses__():
        out.extend(_coded(sub))
    return out


ERROR_CLASSES: tuple[type[LabError], ...] = tuple(_coded(LabError))
"""Every coded error class, the base first."""

ERROR_CODES: dict[str, type[LabError]] = {cls.code: cls for cls in ERROR_CLASSES}
"""Each error code and its class (one class per code)."""

ERROR_CODE_HELP: dict[str, str] = {cls.code: cls.hint for cls in ERROR_CLASSES}
"""Each error code and what to do about it (empty where the message says it all)."""


def error_for_code(code: str) -> type[LabError] | None:
    """The error class of ``code`` (a remote error rebuilt by its code), or None."""
    return ERROR_CODES.get(code)


__all__ = [
    "AccessDeniedError",
    "AlignmentError",
    "AuthorizationError",
    "CatalogError",
    "CatalogNotFoundError",
    "CatalogSchemaError",
    "CatalogUnavailableError",
    "ConfigError",
    "ConsentError",
    "CryptoError",
    "DataValidationError",
    "ERROR_CLASSES",
    "ERROR_CODES",
    "ERROR_CODE_HELP",
    "EncodingOverflowError",
    "HorizontalBanksError",
    "KeyFileError",
    "KeyMismatchError",
    "LabError",
    "LeaseLostError",
    "MinimumCellError",
    "MissingExecutableError",
    "NotFoundError",
    "PartyError",
    "PartyUnavailableError",
    "PlaintextBackendError",
    "PrivacyViolationError",
    "ProtocolError",
    "RunCancelled",
    "RunNotAuthorizedError",
    "RuntimeStartError",
    "SampleListError",
    "SettingsError",
    "SignInError",
    "StateTransitionError",
    "USCCError",
    "error_for_code",
]

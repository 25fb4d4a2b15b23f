"""Party roles."""

from __future__ import annotations

from enum import Enum


class PartyRole(str, Enum):
    """What a party is in one experiment.

    guest: the bank that builds the model; holds the label.
    host: a data owner (agency or another bank) that contributes features.
    coordinator: the platform; drives the protocol, holds no records.
    """

    GUEST = "guest"
    HOST = "host"
    COORDINATOR = "coordinator"


__all__ = ["PartyRole"]

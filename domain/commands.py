"""Tool commands: what the caller (through the assistant) asked for, type-checked at the edge.

Dates and times stay text here: they are read in the tenant's zone by the use case.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckAvailability:
    date: str | None = None
    after: str | None = None
    before: str | None = None
    service: str | None = None
    resource: str | None = None
    part_of_day: str | None = None
    limit: int = 3


@dataclass(frozen=True)
class ReserveSlot:
    start: str
    service: str | None = None
    resource: str | None = None


@dataclass(frozen=True)
class ReleaseSlot:
    pass


@dataclass(frozen=True)
class BookAppointment:
    name: str
    phone: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class LookupAppointments:
    phone: str | None = None


@dataclass(frozen=True)
class CancelAppointment:
    appointment_id: int
    reason: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class RescheduleAppointment:
    appointment_id: int
    start: str
    resource: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class EndCall:
    call_id: str
    reason: str | None = None


@dataclass(frozen=True)
class ReserveAtomic:
    start: str
    service: str | None = None
    resource: str | None = None
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class SendOtp:
    phone: str | None = None


@dataclass(frozen=True)
class VerifyOtp:
    code: object


@dataclass(frozen=True)
class SendConfirmation:
    appointment_id: int | None = None
    phone: str | None = None

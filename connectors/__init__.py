"""Connectors: one reader per source format, each to a canonical Arrow schema."""

from __future__ import annotations

from connectors.base import Reader, SourceOptions
from connectors.event_log import EventLogReader
from connectors.hubspot import HubSpotReader
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.zendesk import ZendeskReader

CONNECTORS: dict[str, type[Reader]] = {
    reader.name: reader
    for reader in (EventLogReader, HubSpotReader, SendGridReader, StripeReader, ZendeskReader)
}

__all__ = ["CONNECTORS", "Reader", "SourceOptions"]

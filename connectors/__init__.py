"""Connectors: one reader per source format, each to a canonical Arrow schema."""

from __future__ import annotations

from connectors.base import Reader, SourceOptions
from connectors.event_log import EventLogReader
from connectors.generic import GenericReader
from connectors.hubspot import HubSpotReader
from connectors.otel import OtelReader
from connectors.postmark import PostmarkReader
from connectors.s3_inventory import S3InventoryReader
from connectors.sendgrid import SendGridReader
from connectors.stripe import StripeReader
from connectors.temporal import TemporalReader
from connectors.zendesk import ZendeskReader

CONNECTORS: dict[str, type[Reader]] = {
    reader.name: reader
    for reader in (
        EventLogReader,
        OtelReader,
        TemporalReader,
        HubSpotReader,
        SendGridReader,
        StripeReader,
        ZendeskReader,
        S3InventoryReader,
        PostmarkReader,
        GenericReader,
    )
}

__all__ = ["CONNECTORS", "Reader", "SourceOptions"]

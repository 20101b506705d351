"""Dagster definitions: snapshot assets per source -> models -> findings -> repair plan ->
metrics -> analyst database, with asset checks, an hourly schedule and a landing sensor."""

"""Collectors: one module per kind of source, each turning a source into `Batch`es of
`Document`s with a cursor (see base.py). `build_collector` picks the module by `type`."""

from monitor.collectors.base import Batch, Collector, CollectorDeferred, SourceConfig
from monitor.collectors.registry import TYPES, build_collector, parse_source

__all__ = ["TYPES", "Batch", "Collector", "CollectorDeferred", "SourceConfig", "build_collector",
           "parse_source"]

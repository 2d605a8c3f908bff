"""Connectors written with httpx, as a real integration is: one module per platform shape.

``base`` holds the contract and the generic channel and ERP connectors; ``shopify``,
``adobe_commerce``, ``bigcommerce``, ``amazon``, ``netsuite`` and ``dynamics`` one each;
``registry`` finds them by platform name and builds ``http_systems(systems)``, the systems a
strategy is given under the run option ``transport = "http"``.
"""

from strategies.connectors.base import ChannelConnector, Connector, ErpConnector
from strategies.connectors.registry import (
    connector_class,
    connector_for,
    http_systems,
    register_connector,
    unregister_connector,
)

__all__ = [
    "ChannelConnector",
    "Connector",
    "ErpConnector",
    "connector_class",
    "connector_for",
    "http_systems",
    "register_connector",
    "unregister_connector",
]

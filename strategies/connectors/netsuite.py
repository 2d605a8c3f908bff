"""NetSuite's ERP connector: one RESTlet, an ``action`` per operation."""

from __future__ import annotations

from typing import Any

from sim.contract import Reply
from strategies.connectors.base import ErpConnector, change_feed_of, imports_of, snapshot_of

__all__ = ["RESTLET", "RESTLET_PARAMS", "NetSuiteConnector"]

RESTLET = "/app/site/hosting/restlet.nl"
RESTLET_PARAMS = {"script": "customscript_syncsim", "deploy": "1"}


class NetSuiteConnector(ErpConnector):
    """The syncsim RESTlet: ``export``, ``changes``, ``check_atp``, ``import_orders``."""

    def _call(self, body: dict[str, Any]) -> tuple[Reply | None, Any]:
        r = self.client.post(RESTLET, json=body, params=RESTLET_PARAMS)
        bad = self._failed(r)
        return bad, None if bad is not None else r.json()

    def _export(self, codes: list[str] | None) -> Reply:
        items = {} if codes is None else {"items": codes}
        bad, body = self._call({"action": "export", **items})
        return bad or Reply(200, value=snapshot_of(body))

    def _changes(self, since: float) -> Reply:
        bad, body = self._call({"action": "changes", "since": since})
        return bad or Reply(200, value=change_feed_of(body["items"], body["stamps"], body["clock"]))

    def _atp(self, codes: list[str], channel: int) -> Reply:
        bad, body = self._call({"action": "check_atp", "items": codes, "channel": channel})
        return bad or Reply(200, value=[int(x) for x in body["available"]])

    def _import(self, docs: list[dict[str, Any]]) -> Reply:
        orders = [{"externalId": d["id"], "item": d["lines"]} for d in docs]
        bad, body = self._call({"action": "import_orders", "salesOrders": orders})
        return bad or Reply(200, value=imports_of(body["results"]))

"""Dynamics 365's ERP connector: the Dataverse Web API, an OData ``$batch`` for imports."""

from __future__ import annotations

import json
from typing import Any

from sim.contract import Reply
from strategies.connectors.base import ErpConnector, change_feed_of, imports_of, snapshot_of

__all__ = ["PREFIX", "DynamicsConnector"]

PREFIX = "/api/data/v9.2"


class DynamicsConnector(ErpConnector):
    """``syncsim_availabilities`` (filtered by SKU), ``syncsim_changes``, the
    ``syncsim_CheckAtp`` custom API and ``$batch`` (ExecuteMultiple) order import."""

    def _export(self, codes: list[str] | None) -> Reply:
        params = {}
        if codes is not None:
            params["$filter"] = (
                f"Microsoft.Dynamics.CRM.In(PropertyName='sku',PropertyValues={json.dumps(codes)})"
            )
        r = self.client.get(f"{PREFIX}/syncsim_availabilities", params=params)
        return self._failed(r) or Reply(200, value=snapshot_of(r.json()["value"]))

    def _changes(self, since: float) -> Reply:
        r = self.client.get(f"{PREFIX}/syncsim_changes", params={"since": repr(float(since))})
        if (bad := self._failed(r)) is not None:
            return bad
        body = r.json()
        return Reply(200, value=change_feed_of(body["value"], body["stamps"], body["clock"]))

    def _atp(self, codes: list[str], channel: int) -> Reply:
        r = self.client.post(f"{PREFIX}/syncsim_CheckAtp", json={"Skus": codes, "Channel": channel})
        return self._failed(r) or Reply(200, value=[int(x) for x in r.json()["Available"]])

    def _import(self, docs: list[dict[str, Any]]) -> Reply:
        requests = [
            {"id": str(i + 1), "method": "POST", "url": "salesorders",
             "body": {"syncsim_orderid": d["id"], "lines": d["lines"]}}
            for i, d in enumerate(docs)
        ]  # fmt: skip
        r = self.client.post(f"{PREFIX}/$batch", json={"requests": requests})
        if (bad := self._failed(r)) is not None:
            return bad
        return Reply(200, value=imports_of([x["body"] for x in r.json()["responses"]]))

"""Message service (docs/original.md §2.4): append-only logs of progress texts per plate, image and
training. Fixed: addMessage on an unknown id is a 404, listMessage excludes the LATEST row, many
logs can be created in one batch (the original made one synchronous call per image)."""

from __future__ import annotations

from bioims import tables
from bioims.errors import NotFound
from bioims.ids import new_message_id, now_ms
from bioims.services.api import Request, Service, api
from bioims.services.history import history_rows, write_latest_and_history
from bioims.services.models import Id, Text
from bioims.services.wire import get_item, listed


def _item(result: dict) -> dict:
    """The original's LATEST row: messageId, timestamp1, detail."""
    return {
        "messageId": result["messageId"],
        "timestamp1": tables.LATEST,
        "detail": result["message"],
        "createTimestamp": result.get("timestamp"),
    }


def _from_item(item: dict) -> dict:
    return {"messageId": item["messageId"], "message": item["detail"], "timestamp": item.get("createTimestamp")}


class CreateRequest(Request):
    message: Text


class IdRequest(Request):
    messageId: Id


class AddRequest(Request):
    messageId: Id
    message: Text


class MessageService(Service):
    name = "message"

    @property
    def _table(self):
        return self.table(tables.MESSAGE)

    def create(self, text: str) -> str:
        message_id = new_message_id()
        write_latest_and_history(self._table, {"messageId": message_id, "detail": text})
        return message_id

    def write_logs(self, message_ids: list[str], texts: list[str]) -> None:
        """Create many logs with given ids in batches (uploads of thousands of images); writing
        the same id and text again is harmless, which keeps re-run uploads idempotent."""
        stamp = now_ms()
        rows = []
        for message_id, text in zip(message_ids, texts, strict=True):
            rows.append({"messageId": message_id, "timestamp1": stamp, "detail": text, "createTimestamp": stamp})
            rows.append(
                {"messageId": message_id, "timestamp1": tables.LATEST, "detail": text, "createTimestamp": stamp}
            )
        self._table.batch_write(puts=rows)

    def add(self, message_id: str, text: str) -> None:
        if self._table.get({"messageId": message_id, "timestamp1": tables.LATEST}) is None:
            raise NotFound(f"message log {message_id!r} does not exist")
        write_latest_and_history(self._table, {"messageId": message_id, "detail": text})

    @api(CreateRequest)
    def createMessage(self, request: CreateRequest) -> dict:
        return {"messageId": self.create(request.message)}

    @api(IdRequest, wire=get_item(_item, _from_item))
    def getMessage(self, request: IdRequest) -> dict:
        row = self._table.get({"messageId": request.messageId, "timestamp1": tables.LATEST})
        if row is None:
            raise NotFound(f"message log {request.messageId!r} does not exist")
        return {"messageId": request.messageId, "message": row["detail"], "timestamp": row.get("createTimestamp")}

    @api(AddRequest)
    def addMessage(self, request: AddRequest) -> dict:
        self.add(request.messageId, request.message)
        return {"messageId": request.messageId}

    @api(IdRequest, wire=listed("messages", keep=("messageId",)))
    def listMessage(self, request: IdRequest) -> dict:
        rows = history_rows(self._table, request.messageId)
        if not rows:
            raise NotFound(f"message log {request.messageId!r} does not exist")
        return {
            "messageId": request.messageId,
            "messages": [{"timestamp": r["timestamp1"], "message": r["detail"]} for r in rows],
        }

    @api(IdRequest)
    def deleteMessage(self, request: IdRequest) -> dict:
        rows = list(self._table.query_all(request.messageId))
        if not rows:
            raise NotFound(f"message log {request.messageId!r} does not exist")
        self._table.batch_write(deletes=rows)
        return {"messageId": request.messageId, "deleted": len(rows)}

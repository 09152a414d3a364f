"""A fake Telegram Bot API on 127.0.0.1 for driving python-telegram-bot (and the alert
module's ``sendMessage``) in tests.

It serves ``POST /bot<token>/<method>`` for the methods the library calls: ``getMe``,
``deleteWebhook``, ``getUpdates`` (a real long poll: it waits up to ``timeout`` seconds for an
update at or past ``offset``, and an offset confirms the updates before it), ``sendMessage``,
``answerCallbackQuery``, ``editMessageText`` and ``setMyCommands``. Parameters arrive as a
form (python-telegram-bot: each value JSON-encoded) or as a JSON body (requests). A wrong
token answers 401 and an unknown method 404, as Telegram does. Every call is recorded.
Tests put updates in with ``command``, ``callback`` or ``push`` (any JSON, malformed too).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from tests.fakes.http_json_server import FakeHTTPServer, Reply, Request

BOT_ID = 777000111
BOT_USERNAME = "trading_test_bot"


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float


def _params(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = json.loads(request.body or b"{}")
        return body if isinstance(body, dict) else {}
    params: dict[str, Any] = {}
    for key, value in request.form().items():
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    if "text" in request.form():
        params["text"] = request.form()["text"]  # text stays text even when it looks like JSON
    return params


class FakeTelegramAPI(FakeHTTPServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0  # updates below this id were confirmed by an offset
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._changed = threading.Condition()

    # ----------------------------------------------------------------- test side

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update as Telegram would (``update_id`` set unless given); its id."""
        with self._changed:
            update = {"update_id": next(self._ids), **update}
            self._updates.append(update)
            self._changed.notify_all()
            return int(update["update_id"])

    def command(self, chat_id: int, text: str, *, user_id: int | None = None) -> int:
        """A private-chat message ``text`` (a bot command when it starts with ``/``)."""
        word = text.split()[0] if text.split() else ""
        entities = (
            [{"type": "bot_command", "offset": 0, "length": len(word)}]
            if word.startswith("/")
            else []
        )
        user = user_id if user_id is not None else abs(chat_id)
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": user, "is_bot": False, "first_name": "Trader"},
            "text": text,
            "entities": entities,
        }
        return self.push({"message": message})

    def callback(self, chat_id: int, data: str, *, message_id: int = 1) -> int:
        """A press on an inline button carrying ``data`` under one of the bot's messages."""
        query = {
            "id": f"cb{next(self._message_ids)}",
            "from": {"id": abs(chat_id), "is_bot": False, "first_name": "Trader"},
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot"},
                "text": "confirm?",
            },
        }
        return self.push({"callback_query": query})

    def sent(self, chat_id: int | None = None, method: str = "sendMessage") -> list[Call]:
        return [
            c
            for c in list(self.calls)
            if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def wait_sent(
        self, chat_id: int, count: int = 1, timeout: float = 5.0, method: str = "sendMessage"
    ) -> list[Call]:
        """The first ``count`` calls of ``method`` to ``chat_id``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.sent(chat_id, method)
            if len(calls) >= count:
                return calls
            time.sleep(0.02)
        raise AssertionError(
            f"{count} {method} to {chat_id} expected within {timeout} s; got "
            f"{[c.params.get('text') for c in self.sent(chat_id, method)]}"
        )

    def pending(self) -> int:
        """Updates not yet confirmed by the bot."""
        with self._changed:
            return sum(1 for u in self._updates if u["update_id"] >= self._confirmed)

    # ----------------------------------------------------------------- API side

    def handle(self, request: Request) -> Reply:
        prefix, _, method = request.path.lstrip("/").partition("/")
        if prefix != f"bot{self.token}":
            return Reply.json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        params = _params(request)
        self.calls.append(Call(method, params, time.monotonic()))
        answer = getattr(self, f"_{method}", None)
        if answer is None:
            return Reply.json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return Reply.json({"ok": True, "result": answer(params)})

    def _getMe(self, params: dict[str, Any]) -> Any:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Trading",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _setMyCommands(self, params: dict[str, Any]) -> Any:
        return True

    def _getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 10.0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + wait
        with self._changed:
            self._confirmed = max(self._confirmed, offset)
            self._updates = [u for u in self._updates if u["update_id"] >= self._confirmed]
            while not self._updates and time.monotonic() < deadline:
                self._changed.wait(timeout=max(0.0, deadline - time.monotonic()))
            return self._updates[:limit]

    def _sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = params.get("chat_id")
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Trading"},
            "text": params.get("text", ""),
        }

    def _editMessageText(self, params: dict[str, Any]) -> Any:
        return {**self._sendMessage(params), "message_id": params.get("message_id")}

    def _answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

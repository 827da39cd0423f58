#!/usr/bin/env python3
"""A stand-in for the intermediate server (中間サーバー), for tests and demos: it plays the network
over HTTP against a running kenshin — sends a query on behalf of another office and polls a held
one until a supervisor has decided. Standard library only; nothing here imports kenshin.

    python scripts/stand_in_network.py send --person 123456789012 --item history
    python scripts/stand_in_network.py send --person 123456789012 --item results --wait
    python scripts/stand_in_network.py poll Q-20261130-0001
    python scripts/stand_in_network.py sample-list permitted.csv

The token comes from --token or KENSHIN_PROVISION_TOKEN; the server from --url (default
http://127.0.0.1:8000). Each command prints the HTTP status and the JSON answer; exit 0 when the
query was answered, 3 while it is still held, 1 when it was refused, declined or the person is
unknown, 2 when the server could not be reached or answered something else.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_REQUESTER = "131016"  # 東京都千代田区 (地方公共団体コード with its check digit)
DEFAULT_PROCEDURE = "健康増進法による健康増進事業の実施に関する事務"


def _call(method: str, url: str, token: str | None, body: dict | None = None,
          timeout: float = 10) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _json(error.read())


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"_raw": raw[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"_value": value}


def new_query_id() -> str:
    return f"Q-{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:12]}"


def send(base_url: str, token: str | None, *, person: str, items: list[str],
         requester: str = DEFAULT_REQUESTER, procedure: str = DEFAULT_PROCEDURE,
         query_id: str | None = None) -> tuple[int, dict, str]:
    """POST one query; (HTTP status, JSON answer, query_id)."""
    query_id = query_id or new_query_id()
    body = {"query_id": query_id, "requester": requester, "procedure": procedure,
            "person": person, "items": items}
    status, answer = _call("POST", base_url.rstrip("/") + "/provision/queries", token, body)
    return status, answer, query_id


def status(base_url: str, token: str | None, query_id: str) -> tuple[int, dict]:
    """GET the current status of one query."""
    return _call("GET", f"{base_url.rstrip('/')}/provision/queries/{query_id}", token)


def poll(base_url: str, token: str | None, query_id: str, *, every: float = 5.0,
         timeout: float = 600.0, sleep=time.sleep) -> tuple[int, dict]:
    """GET until the query is no longer held (or the timeout passes); the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        code, answer = status(base_url, token, query_id)
        if answer.get("status") != "held" or time.monotonic() >= deadline:
            return code, answer
        sleep(every)


def exit_code(code: int, answer: dict) -> int:
    if code == 200 and answer.get("status") == "answered":
        return 0
    if answer.get("status") == "held":
        return 3
    if code in (403, 404) and answer.get("status") in ("refused", "declined", "unknown_person"):
        return 1
    return 2


def _print(code: int, answer: dict, query_id: str | None = None) -> None:
    if query_id:
        print(f"query_id {query_id}")
    print(f"HTTP {code}")
    print(json.dumps(answer, ensure_ascii=False, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("KENSHIN_PROVISION_URL", DEFAULT_URL))
    parser.add_argument("--token", default=os.environ.get("KENSHIN_PROVISION_TOKEN"))
    commands = parser.add_subparsers(dest="command", required=True)
    send_p = commands.add_parser("send", help="send one query")
    send_p.add_argument("--person", required=True, help="団体内統合宛名番号")
    send_p.add_argument("--item", action="append", choices=("history", "results"), required=True)
    send_p.add_argument("--requester", default=DEFAULT_REQUESTER, help="地方公共団体コード")
    send_p.add_argument("--procedure", default=DEFAULT_PROCEDURE, help="事務")
    send_p.add_argument("--query-id")
    send_p.add_argument("--wait", action="store_true", help="poll a held query until decided")
    send_p.add_argument("--every", type=float, default=5.0, help="seconds between polls")
    poll_p = commands.add_parser("poll", help="poll one query until it is no longer held")
    poll_p.add_argument("query_id")
    poll_p.add_argument("--every", type=float, default=5.0)
    poll_p.add_argument("--timeout", type=float, default=600.0)
    sample = commands.add_parser("sample-list", help="write a permitted-query list for the demo")
    sample.add_argument("path")
    sample.add_argument("--requester", default=DEFAULT_REQUESTER)
    sample.add_argument("--procedure", default=DEFAULT_PROCEDURE)
    args = parser.parse_args(argv)
    try:
        if args.command == "sample-list":
            with open(args.path, "w", encoding="utf-8", newline="") as handle:
                handle.write("requester,procedure,item\r\n")
                for item in ("history", "results"):
                    handle.write(f"{args.requester},{args.procedure},{item}\r\n")
            print(f"wrote {args.path}")
            return 0
        if args.command == "send":
            code, answer, query_id = send(args.url, args.token, person=args.person,
                                          items=args.item, requester=args.requester,
                                          procedure=args.procedure, query_id=args.query_id)
            _print(code, answer, query_id)
            if args.wait and answer.get("status") == "held":
                print(f"held: polling every {args.every:g}s until a supervisor decides ...")
                code, answer = poll(args.url, args.token, query_id, every=args.every)
                _print(code, answer)
            return exit_code(code, answer)
        code, answer = poll(args.url, args.token, args.query_id, every=args.every,
                            timeout=args.timeout)
        _print(code, answer)
        return exit_code(code, answer)
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Play one phone call against a running frontdesk, the way Vapi would, and print what the caller hears.

    .venv/bin/python examples/demo_call.py                 # against `make run` on 127.0.0.1:8080
    .venv/bin/python examples/demo_call.py --url http://127.0.0.1:8081 --secret ...

Standard library only, so it runs with any Python 3.11.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

DEMO_SECRET = "demo-secret-bright-smile-0001"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--secret", default=DEMO_SECRET)
    parser.add_argument("--assistant", default="asst_bright_1")
    parser.add_argument("--caller", default="+15555550123")
    parser.add_argument("--otp", action="store_true",
                        help="book with a one-time code: reserve_atomic, read the code from the SMS log, verify_otp")
    parser.add_argument("--sms-log", default=".data/sms.jsonl", help="where `make run` writes texts")
    args = parser.parse_args()
    call_id = f"demo-call-{int(time.time())}"
    n = 0

    def post(message: dict) -> dict:
        body = {"message": {"call": {"id": call_id, "assistantId": args.assistant, "type": "inboundPhoneCall",
                                     "customer": {"number": args.caller}},
                            "customer": {"number": args.caller}, **message}}
        req = urllib.request.Request(f"{args.url}/vapi/webhook", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Vapi-Secret": args.secret})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def tool(name: str, arguments: dict) -> dict:
        nonlocal n
        n += 1
        reply = post({"type": "tool-calls", "toolCallList": [
            {"id": f"{call_id}-{n}", "type": "function", "function": {"name": name, "arguments": arguments}}]})
        result = json.loads(reply["results"][0]["result"])
        print(f"> {name} {json.dumps(arguments)}")
        print(f"  assistant says: {result['say']}")
        return result

    def texts() -> list[dict]:
        try:
            with open(args.sms_log, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def wait_for_text(seen: int, what: str) -> dict:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            new = texts()[seen:]
            if new:
                print(f"  [{args.sms_log}] to {new[-1]['to']}: {new[-1]['body']}")
                return new[-1]
            time.sleep(0.1)
        raise SystemExit(f"no {what} text arrived in {args.sms_log} within 15 s (is the worker running?)")

    try:
        if args.otp:
            found = tool("check_availability", {"service": "Cleaning"})
            seen = len(texts())
            held = tool("reserve_atomic", {"start": found["openings"][0]["start"], "name": "Dana Whitfield"})
            if not held["ok"]:
                return 1
            code = "".join(ch for ch in wait_for_text(seen, "code")["body"].split("code is ")[1][:6])
            seen = len(texts())
            booked = tool("verify_otp", {"code": " ".join(code)})
            if not booked["ok"]:
                return 1
            wait_for_text(seen, "confirmation")
            return 0
        found = tool("check_availability", {"service": "Cleaning"})
        if not found["ok"]:
            return 1
        first = found["openings"][0]
        held = tool("reserve_slot", {"start": first["start"], "service": "Cleaning"})
        if not held["ok"]:
            return 1
        booked = tool("book_appointment", {"name": "Dana Whitfield"})
        tool("lookup_appointments", {})
        tool("cancel_appointment", {"appointment_id": booked["appointment_id"], "reason": "demo"})
        post({"type": "status-update", "status": "ended", "endedReason": "customer-ended-call"})
        print("> status-update ended: the call's holds are released")
    except urllib.error.URLError as e:
        print(f"cannot reach {args.url}: {e.reason}. Is `make run` running?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes a wrk script that posts pre-signed WhatsApp text webhooks, each with a fresh message id.

Used for the webhook throughput figures in docs/PERFORMANCE.md: signing in Lua is not possible in
wrk, so N bodies are signed here (HMAC-SHA256 with the app secret, header X-Hub-Signature-256) and
wrk cycles through them (after N requests it starts again: those are duplicates, still answered
200, so keep the run short enough that N is not reached).

usage: scripts/wrk-signed-bodies.py OUT.lua [--secret S] [--count N] [--path /webhook]
writes OUT.lua and the data it reads, OUT.lua.txt (one "signature body" per line: a Lua chunk
cannot hold that many constants).
"""
import argparse
import hashlib
import hmac
import json
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--secret", default="bench-app-secret")
    ap.add_argument("--count", type=int, default=90000)
    ap.add_argument("--path", default="/webhook")
    a = ap.parse_args()
    # Unique per generation, also for two generations in one second.
    run = "%d-%s" % (time.time(), os.urandom(4).hex())
    stamp = int(time.time())
    data = []
    for i in range(a.count):
        phone = "52155%08d" % (i % 5000)
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Usuario de prueba"}, "wa_id": phone}],
            "messages": [{
                "id": "wamid.wrk.%s.%d" % (run, i),
                "timestamp": str(stamp),
                "type": "text",
                "text": {"body": "Hola, quiero abrir mi cuenta"},
                "from": phone,
            }],
        }
        body = json.dumps(
            {"object": "whatsapp_business_account",
             "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]},
            separators=(",", ":"),
        )
        sig = "sha256=" + hmac.new(a.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        data.append(sig + " " + body)
    with open(a.out + ".txt", "w") as f:
        f.write("\n".join(data) + "\n")
    lines = ["""local bodies, sigs, n, i = {}, {}, 0, 0
for line in io.lines(%s) do
  local sig, body = line:match("^(%%S+) (.*)$")
  n = n + 1
  sigs[n], bodies[n] = sig, body
end
request = function()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("POST", %s, {["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = sigs[i]}, bodies[i])
end""" % (json.dumps(os.path.abspath(a.out + ".txt")), json.dumps(a.path))]
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

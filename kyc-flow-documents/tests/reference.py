"""Reference answers for the differential tests (tests/differential.rs).

Reads one JSON request per line on stdin and writes one JSON answer per line on stdout:
  {"op": "id", "kind": "mx-curp", "value": "..."}  -> {"valid": bool, "compact": str|null}
  {"op": "mrz", "text": "..."}                      -> {"ok": bool, "checks": {...}} or {"ok": false, "error": str}
The first line written is {"ready": true} or {"ready": false, "missing": "..."} so the Rust side
can skip (or fail under CI) when python-stdnum or mrz is not installed.
"""
import json
import sys

try:
    from stdnum.ar import cuit as ar_cuit, dni as ar_dni
    from stdnum.br import cnpj as br_cnpj, cpf as br_cpf
    from stdnum.cl import rut as cl_rut
    from stdnum.co import nit as co_nit
    from stdnum.ec import ci as ec_ci, ruc as ec_ruc
    from stdnum.mx import curp as mx_curp, rfc as mx_rfc
    from stdnum.pe import cui as pe_cui, ruc as pe_ruc
    from mrz.checker.td1 import TD1CodeChecker
    from mrz.checker.td2 import TD2CodeChecker
    from mrz.checker.td3 import TD3CodeChecker
except ImportError as exc:  # reported, the Rust side decides
    print(json.dumps({"ready": False, "missing": str(exc)}), flush=True)
    sys.exit(0)

MODULES = {
    "mx-curp": mx_curp,
    "mx-rfc": mx_rfc,
    "co-nit": co_nit,
    "pe-dni": pe_cui,
    "pe-ruc": pe_ruc,
    "ar-dni": ar_dni,
    "ar-cuit": ar_cuit,
    "cl-run": cl_rut,
    "br-cpf": br_cpf,
    "br-cnpj": br_cnpj,
    "ec-cedula": ec_ci,
    "ec-ruc": ec_ruc,
}


def answer_id(req):
    module = MODULES[req["kind"]]
    value = req["value"]
    try:
        return {"valid": bool(module.is_valid(value)), "compact": module.compact(value)}
    except Exception as exc:  # stdnum should not raise from is_valid; report it if it does
        return {"valid": False, "compact": None, "raised": repr(exc)}


def answer_mrz(req):
    text = req["text"]
    lines = text.split("\n")
    try:
        if len(lines) == 3:
            checker = TD1CodeChecker(text)
        elif len(lines[0]) == 36:
            checker = TD2CodeChecker(text)
        else:
            checker = TD3CodeChecker(text)
    except Exception as exc:
        return {"ok": False, "error": repr(exc)}
    checks = {
        "document_number": bool(checker.document_number_hash),
        "birth_date": bool(checker.birth_date_hash),
        "expiry_date": bool(checker.expiry_date_hash),
        "composite": bool(checker.final_hash),
    }
    return {"ok": True, "checks": checks}


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    req = json.loads(line)
    if req["op"] == "id":
        out = answer_id(req)
    else:
        out = answer_mrz(req)
    sys.stdout.write(json.dumps(out) + "\n")
sys.stdout.flush()

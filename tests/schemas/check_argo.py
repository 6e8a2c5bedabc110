"""Checks a CronWorkflow manifest offline, as Argo Workflows v4 would read it.

1. Against Argo's published JSON schema (tests/schemas/, v4.1.2), made
   strict: an object with declared properties accepts no other key, so a
   misspelt field fails instead of being ignored.
2. Through hera's model of CronWorkflow (hera 7, generated from Argo's
   API): read and written back, it must give the same document, so
   nothing was dropped or changed on the way.

Usage: check_argo.py MANIFEST.yaml (prints what is wrong, exits 1).
"""

import json
import os
import sys

import jsonschema
import yaml
from hera.workflows.models import CronWorkflow

HERE = os.path.dirname(os.path.abspath(__file__))


def strict(node):
    if isinstance(node, dict):
        out = {k: strict(v) for k, v in node.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


def main(path):
    doc = yaml.safe_load(open(path))
    schema = strict(json.load(open(os.path.join(HERE, "argo-cronworkflow-v4.1.2.json"))))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print(f"schema: {'/'.join(map(str, e.path))}: {e.message}")
    back = CronWorkflow.model_validate(doc).model_dump(by_alias=True, exclude_none=True, mode="json")
    if back != doc:
        print("hera: the model does not give the document back:")
        print(json.dumps(back, indent=1, sort_keys=True))
        errors.append("round trip")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

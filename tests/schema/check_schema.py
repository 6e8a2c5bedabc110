#!/usr/bin/env python3
"""`chime schema` is a valid draft-07 schema that agrees with `chime check`:
every pipeline check accepts validates, and typos check reports (unknown
keys, unknown parameters, wrong types) are flagged by the schema too, as an
editor using yaml-language-server would show them.

usage: python3 tests/schema/check_schema.py path/to/chime
(needs the PyPI packages jsonschema and PyYAML)
"""
import datetime
import glob
import json
import os
import subprocess
import sys

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def as_editor_sees(x):
    # PyYAML turns 2026-01-01 into a date; YAML 1.2 editors see a string.
    if isinstance(x, datetime.date):
        return str(x)
    if isinstance(x, dict):
        return {str(k): as_editor_sees(v) for k, v in x.items()}
    if isinstance(x, list):
        return [as_editor_sees(i) for i in x]
    return x


def main():
    chime = sys.argv[1]
    schema = json.loads(subprocess.run([chime, "schema"], capture_output=True, text=True, check=True).stdout)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    valid = sorted(glob.glob(os.path.join(ROOT, "examples", "*", "pipeline.yaml"))) + [
        os.path.join(ROOT, "tests", "ui", "ok_spec_example.yaml")
    ]
    # Cases whose every error is one the schema can express.
    flagged = ["e002_unknown_key.yaml", "e021_e022_e023_operator_params.yaml", "e003_wrong_type.yaml"]
    failures = 0
    for path in valid:
        errors = list(validator.iter_errors(as_editor_sees(yaml.safe_load(open(path)))))
        if errors:
            failures += 1
            print(f"FAIL {path}: valid for chime check, but the schema says {errors[0].message}")
    for name in flagged:
        path = os.path.join(ROOT, "tests", "ui", name)
        errors = list(validator.iter_errors(as_editor_sees(yaml.safe_load(open(path)))))
        if not errors:
            failures += 1
            print(f"FAIL {name}: chime check reports errors, the schema none")
    total = len(valid) + len(flagged)
    print(f"schema: {total - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

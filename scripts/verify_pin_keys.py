# Used once: python scripts/verify_pin_keys.py OLD_PINNED_DIR tests/pinned (issue 11 key additions).
"""The only differences between old and new pins: rows gain block: null, a top-level
blocks: [] (run) and summary.blocks: [] (run, and each compare run's summary)."""
import json, sys
from pathlib import Path
old_dir, new_dir = Path(sys.argv[1]), Path(sys.argv[2])
def strip(d):
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out[k] = strip(v)
        return out
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d
def remove_new(d, path=""):
    if isinstance(d, dict):
        d = dict(d)
        if "layers" in d and isinstance(d["layers"], list):
            for row in d["layers"]:
                if isinstance(row, dict) and "name" in row:
                    assert row.pop("block") is None, path
        if path in ("", ) or path.endswith("runs[]"):
            if "blocks" in d and "layers" in d:
                assert d.pop("blocks") == [], path
        if "forward" in d and "notes" in d:
            assert d.pop("blocks") == [], path
        return {k: remove_new(v, f"{path}.{k}") for k, v in d.items()}
    if isinstance(d, list):
        return [remove_new(v, path + "[]") for v in d]
    return d
bad = 0
for old in sorted(old_dir.glob("*.json")):
    new = new_dir / old.name
    a, b = json.loads(old.read_text()), remove_new(json.loads(new.read_text()))
    if a != b:
        bad += 1; print("DIFFERS beyond the new keys:", old.name)
    else:
        print("only new keys:", old.name)
sys.exit(bad)

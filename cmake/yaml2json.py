"""Convert the OpenAPI YAML description into JSON at build time (kernelboxd serves both)."""
import json
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as src:
    document = yaml.safe_load(src)
with open(sys.argv[2], "w", encoding="utf-8") as dst:
    json.dump(document, dst, indent=1, sort_keys=False)
    dst.write("\n")

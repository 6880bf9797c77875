from __future__ import annotations

import argparse

from reconciler.cli import output
from reconciler.config.jsonschema import render_schema


def run(args: argparse.Namespace) -> int:
    output.raw(render_schema())
    return 0

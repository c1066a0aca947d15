"""The local runtime: what AWS does around moto that moto does not (see docs/design.md section 5).

- `eventbridge.py`: notices table lifecycle changes, builds CloudTrail-shaped events, matches
  them against the deployed rules and fires scheduled rules.
- `streams.py`: polls the streams of enabled event source mappings and invokes the mapped
  function with Lambda-shaped batches.
- `runtime.py`: invokes a function's handler in-process with that function's environment,
  and runs the two loops.
"""

from .runtime import LocalRuntime

__all__ = ["LocalRuntime"]

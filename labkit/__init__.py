"""labkit: the small library behind streaming-lab's notebooks, CLI and tests.

Modules follow the pipeline the lab teaches. Today: `settings` (endpoints and
versions), `stack` (the embedded servers), `clients` and `topics` (talking to
them). Later chapters add generate -> serde -> features -> sinks -> engines ->
bench, one module each.

Notebooks use it as `import labkit as lk` and call `lk.<module>.<function>`.
"""

from . import clients, errors, settings, stack, topics
from .errors import LabError

__all__ = ["LabError", "clients", "errors", "settings", "stack", "topics"]
__version__ = "0.1.0"

"""Errors a user can act on: each names the place at fault."""


class KgpError(Exception):
    """Base for errors shown to users without a traceback."""


class InputError(KgpError):
    """Malformed input; ``problems`` holds one 'file:line: message' string per fault."""

    def __init__(self, summary: str, problems: list[str] | None = None):
        self.problems = problems or []
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{summary}\n{shown}{more}" if self.problems else summary)


class StoreError(KgpError):
    """The graph store is unreachable or refused a statement."""


class TransientStoreError(StoreError):
    """The store is unreachable or busy for now: worth retrying with backoff (workers do)."""


class JobError(KgpError):
    """A queue job cannot be submitted, found or cancelled."""


class SchemaError(KgpError):
    """A label or relationship type is not a valid, declared name."""

"""The local stack, its test servers and the evidence suite: everything around the runtime, never in it.

The runtime package (``aiwfe``) never imports this one; ``aiwfe up`` and the other commands reach it through
the ``aiwfe.commands`` entry point group (see ``aiwfe.cli``)."""

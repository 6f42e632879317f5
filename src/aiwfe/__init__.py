"""aiwfe, the AI Workflow Engine: accounts, calendars and background jobs, self-hosted."""

__version__ = "0.1.0"

"""The audit trail: one write path (``record_event``) and its vocabulary of tags."""

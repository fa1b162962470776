"""suanli_client: submit signed GPU usage records to a suanli ledger (see docs/INTEGRATION.md)."""

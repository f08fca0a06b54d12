"""Webhooks: changes arrive as they happen, and a periodic full scan stays the backstop.

`receiver` (`apptsync webhooks serve`) verifies deliveries and appends them durably to a
`spool`; the next sync merges the spooled events first (`merge`), through the same flatten
and quarantine path as paging, and rotates the segments only after its load is committed.
"""

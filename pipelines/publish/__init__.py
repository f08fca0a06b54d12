"""What apptsync hands to readers: the published warehouse, dashboard feeds and the report.

Readers (analysts, BI tools, dashboards) never share a file with a running sync: they get
copies that are complete when they appear and replaced in one step.
"""

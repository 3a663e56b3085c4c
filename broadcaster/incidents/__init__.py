"""Incidents: publishing updates, scheduled updates and drafts, the JSON API and the public pages."""

"""Statistics on tables: summaries, survival, time-course, hypothesis tests and trial designs."""

"""What the studies write: tables, folders and provenance, seen only through records and the spec."""

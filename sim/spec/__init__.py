"""The file formats: scenario, sweep and trial files as typed, frozen schemas with readable errors."""

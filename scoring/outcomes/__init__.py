"""After the programme: labels derived from follow-ups, and whether the scores were right."""

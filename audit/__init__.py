"""The auditor's side of a journey: its event history told in plain words, replayed with
today's workflow code, and kept in the application database beyond Temporal's retention."""

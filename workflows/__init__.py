"""The onboarding workflow, its message types and the published rules it enforces."""

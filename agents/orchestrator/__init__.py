"""The orchestrator stage."""

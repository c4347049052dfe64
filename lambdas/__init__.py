"""One thin Lambda handler module per service; all logic lives in bioims.services."""

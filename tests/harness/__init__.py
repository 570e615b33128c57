"""Integration-test harness: a real Envoy, the sample backend, real tokens."""
